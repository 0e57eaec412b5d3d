import type { Request, Response } from 'express';

/**
 * An AbortSignal that aborts when the client goes away before the response is finished (the
 * response's socket closed early). Node's request has no signal of its own.
 */
export function requestSignal(request: Request, response: Response): AbortSignal {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!response.writableFinished) {
      const error = new Error('The client closed the request');
      error.name = 'AbortError';
      controller.abort(error);
    }
  };
  response.once('close', onClose);
  request.once('aborted', onClose);
  return controller.signal;
}
