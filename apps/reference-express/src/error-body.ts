/** The JSON body of every error the app answers itself, shaped as `@xnai/cb-express` answers. */
export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}
