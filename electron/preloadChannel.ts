// The one Electron IPC channel the contract's envelopes travel on, in both directions.
export const RPC_CHANNEL = 'headroom:rpc';
