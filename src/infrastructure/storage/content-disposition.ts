/**
 * `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266, RFC 8187): the header of a
 * download, served by the local download route or asked of S3 in a presigned URL.
 */
export const contentDisposition = (fileName: string): string => {
  const fallback = fileName.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const encoded = encodeURIComponent(fileName).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
};
