/** Docker's EOF message for an empty body where one is required. */
export const EMPTY_BODY_MESSAGE = 'invalid JSON: got EOF while reading request body';
