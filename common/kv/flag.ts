// The `--kv off|auto|<budget>` flag of `ask`, `serve` and `plan`, and `--offload`: the one
// place they are parsed into model.load's `kv` option.
import { KvOptions } from './policy.ts';

export const KV_FLAG_HELP = '--kv off|auto|<budget 0-1>';

/** The `kv` load option for the flags (undefined: the stock cache), or an error sentence. */
export function parseKvFlag(flag: string, offload = 'auto'): { kv: KvOptions | undefined } | { error: string } {
    if (!['gpu', 'cpu', 'auto'].includes(offload)) return { error: `--offload must be gpu, cpu or auto, not "${offload}".` };
    const placement = offload as KvOptions['offload'];
    if (flag === 'off') return { kv: undefined };
    if (flag === 'auto') return { kv: KvOptions.parse({ mode: 'auto', offload: placement }) };
    const budget = Number(flag.replace(/^budget:/, ''));
    if (!/^(budget:)?\d*\.?\d+$/.test(flag) || !(budget > 0 && budget <= 1)) {
        return { error: `--kv must be off, auto or a budget in (0, 1], not "${flag}".` };
    }
    return { kv: KvOptions.parse({ mode: 'budget', budget, offload: placement }) };
}
