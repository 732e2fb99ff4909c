import { applyDecorators, SetMetadata, UseGuards } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { OperatorTokenGuard } from './operator-token.guard.js';

/** Routes for the operator token instead of a user token; the global JWT guard leaves them to this one. */
export const IS_OPERATOR_ONLY = 'isOperatorOnly';
export const OperatorOnly = () =>
  applyDecorators(
    SetMetadata(IS_OPERATOR_ONLY, true),
    UseGuards(OperatorTokenGuard),
    ApiBearerAuth('operator'),
  );
