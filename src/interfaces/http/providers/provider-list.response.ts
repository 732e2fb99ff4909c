import { ApiProperty } from '@nestjs/swagger';
import { PROVIDER_NAMES, type ProviderName } from '../../../domain/report/provider-data.js';

export class ProviderInfoResponse {
  @ApiProperty({ enum: PROVIDER_NAMES, example: 'bank-transactions' })
  name!: ProviderName;

  @ApiProperty({ example: "Every transaction of the subject's bank accounts in the period" })
  description!: string;

  @ApiProperty({ example: '1.0.0' })
  version!: string;
}

export class ProviderListResponse {
  @ApiProperty({ type: [ProviderInfoResponse] })
  data!: ProviderInfoResponse[];
}
