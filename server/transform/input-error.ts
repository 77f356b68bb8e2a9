/**
 * Input the transform refuses (bad geometry, grid, subset, mask shape…). The CLI prints the
 * message alone and exits with code 2, so scripts can tell refusals from crashes.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}
