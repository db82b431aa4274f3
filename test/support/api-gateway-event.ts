import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

/**
 * An API Gateway HTTP API / Function URL event, payload format 2.0, shaped as AWS documents it.
 * Binary bodies arrive base64-encoded with `isBase64Encoded: true`.
 */
export function httpApiEvent(
  method: string,
  path: string,
  options: { body?: Uint8Array | string; contentType?: string; base64?: boolean } = {},
): APIGatewayProxyEventV2 {
  const { body, contentType } = options;
  const base64 = options.base64 ?? body instanceof Uint8Array;
  const encoded =
    body === undefined
      ? undefined
      : base64
        ? Buffer.from(body).toString('base64')
        : typeof body === 'string'
          ? body
          : Buffer.from(body).toString('utf8');
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {
      host: 'abcdef1234.execute-api.us-east-1.amazonaws.com',
      'user-agent': 'vitest',
      'x-forwarded-proto': 'https',
      ...(contentType ? { 'content-type': contentType } : {}),
      ...(encoded !== undefined
        ? {
            'content-length': String(
              body instanceof Uint8Array ? body.byteLength : Buffer.byteLength(encoded),
            ),
          }
        : {}),
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef1234',
      domainName: 'abcdef1234.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abcdef1234',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId: `req-${Math.random().toString(36).slice(2)}`,
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(encoded !== undefined ? { body: encoded } : {}),
    isBase64Encoded: base64 && body !== undefined,
  };
}

/** A Lambda context as the runtime passes it. */
export function lambdaContext(functionName = 'inferlet-image'): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '2048',
    awsRequestId: `aws-${Math.random().toString(36).slice(2)}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/26/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
