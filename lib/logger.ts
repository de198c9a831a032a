/** Where sync-machine writes its log lines; pass your own to `SyncMachines.start({ logger })`. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const consoleLogger: Logger = {
  info: (message) => console.log(`[sync-machine] ${message}`),
  warn: (message) => console.warn(`[sync-machine] ${message}`),
  error: (message) => console.error(`[sync-machine] ${message}`),
};
