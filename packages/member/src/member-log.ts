/** Where a member writes its few log lines: a pino logger fits, and so does the default below. */
export interface MemberLog {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** Warnings and errors to standard error, one line each, with their cause. */
export const STDERR_LOG: MemberLog = {
  warn: (details, message) => console.warn(message, details),
  error: (details, message) => console.error(message, details),
};
