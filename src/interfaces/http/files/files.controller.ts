import { Controller, Get, Inject, Query, Res } from '@nestjs/common';
import { ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { pipeline } from 'node:stream/promises';
import {
  OBJECT_STORAGE,
  ObjectNotFoundError,
  type ObjectStorage,
} from '../../../application/ports/object-storage.port.js';
import { contentDisposition } from '../../../infrastructure/storage/content-disposition.js';
import { LocalObjectStorage } from '../../../infrastructure/storage/local-object-storage.js';
import { Public } from '../auth/public.decorator.js';
import { ApiQueryFrom } from '../openapi/openapi.js';
import { ProblemException, problemType } from '../problem/problem-details.js';

/**
 * The signed query of a download URL, for the document only: `verify` checks it (and answers 403 to
 * anything else), the URL is minted by `signedDownloadUrl` and clients follow it as is.
 */
const downloadQuery = z.object({
  key: z.string().describe('Object key'),
  expires: z
    .string()
    .regex(/^\d{1,15}$/)
    .describe('Expiry, Unix seconds'),
  name: z.string().describe('File name for Content-Disposition'),
  type: z.string().describe('Content type of the file'),
  sig: z.string().describe('Signature over key, expires, name and type'),
});

const REJECTIONS = {
  expired: { code: 'download_link_expired', detail: 'This download link has expired; request a new one.' },
  tampered: { code: 'download_link_invalid', detail: 'This download link is not valid.' },
  malformed: { code: 'download_link_invalid', detail: 'This download link is not valid.' },
} as const;

/**
 * Serves signed download URLs of the local object storage (S3 serves its own). Public: the signature is
 * the credential, so the URL works in a browser with no Authorization header until it expires.
 */
@ApiTags('files')
@Public()
@Controller('v1/files')
export class FilesController {
  constructor(@Inject(OBJECT_STORAGE) private readonly objects: ObjectStorage) {}

  @Get('download')
  @ApiQueryFrom(downloadQuery)
  @ApiResponse({
    status: 200,
    description: 'The file, as an attachment (403 once expired or if tampered with, 404 if deleted)',
    content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
    headers: {
      'Content-Disposition': { description: 'attachment; filename=…', schema: { type: 'string' } },
    },
  })
  async download(@Query() query: Record<string, unknown>, @Res() res: Response): Promise<void> {
    // With STORAGE=s3 the presigned URLs point at S3: this route has nothing to serve.
    if (!(this.objects instanceof LocalObjectStorage))
      throw new ProblemException(404, { detail: 'Not found.' });
    const storage = this.objects;
    const grant = storage.verify(query);
    if (!grant.ok) {
      const { code, detail } = REJECTIONS[grant.reason];
      throw new ProblemException(403, { type: problemType(code), detail });
    }
    const head = await storage.head(grant.key);
    if (head === null) throw new ProblemException(404, { detail: 'The file no longer exists.' });
    let body;
    try {
      body = await storage.get(grant.key);
    } catch (error) {
      if (error instanceof ObjectNotFoundError)
        throw new ProblemException(404, { detail: 'The file no longer exists.' });
      throw error;
    }
    res.status(200).set({
      'Content-Type': grant.contentType,
      'Content-Length': String(head.bytes),
      'Content-Disposition': contentDisposition(grant.fileName),
      // The URL is a bearer credential: keep it and the file out of shared caches.
      'Cache-Control': 'private, no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    try {
      await pipeline(body, res);
    } catch {
      // The client went away or the disk failed half-way: the status is sent, ending the socket is all we can do.
      res.destroy();
    }
  }
}
