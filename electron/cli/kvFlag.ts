// The `--kv off|auto|<budget>` flag of `ask` and `serve`. KV compression arrives with the
// native engine as a `kv` option of model.load: the flag is passed through once the contract
// has it; until then only "off" can be honoured and anything else is refused in words.
import { LoadModelParams } from '../ipc/contract.ts';

export const KV_COMPRESSION_AVAILABLE = 'kv' in LoadModelParams.shape;

/** The model.load fields for the flag, or an error sentence. */
export function kvLoadOption(flag: string): { kv?: unknown } | { error: string } {
    if (KV_COMPRESSION_AVAILABLE) return { kv: /^\d+(\.\d+)?$/.test(flag) ? Number(flag) : flag };
    if (flag === 'off') return {};
    return { error: `--kv ${flag} needs KV compression, which this build of Headroom does not have yet; use --kv off (the default).` };
}
