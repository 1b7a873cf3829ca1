// The one `--kv` grammar, for every CLI (ask, serve, plan, niah, bench:kv) and in the settings
// panel's words: off, auto, or a budget (the fraction of the full cache to keep) written as
// 0.25 or budget:0.25.
import { HeadroomError } from '../errors.ts';
import { KvCacheType } from '../modelShape.ts';
import { KvOffload, KvOptions } from './policy.ts';

export const KV_FLAG_USAGE = '--kv off|auto|0.25|budget:0.25';
export const KV_TYPE_FLAG_USAGE = `--kv-type ${KvCacheType.options.join('|')}`;

/** The cache type a `--kv-type` value names (the settings panel's "Cache type"); refused with one sentence otherwise. */
export function parseKvTypeFlag(value: string): KvCacheType {
    const type = KvCacheType.safeParse(value);
    if (!type.success) throw new HeadroomError('BAD_REQUEST', `--kv-type must be ${KvCacheType.options.join(', ')}, not "${value}".`, 'kvCacheType');
    return type.data;
}

const BUDGET = /^(?:budget:)?(\d*\.?\d+)$/;

/** The KV options a `--kv` value asks for; a value outside the grammar is refused with one sentence. */
export function parseKvFlag(value: string, offload = 'auto'): KvOptions {
    const placement = KvOffload.safeParse(offload);
    if (!placement.success) throw new HeadroomError('BAD_REQUEST', `--offload must be gpu, cpu or auto, not "${offload}".`, 'offload');
    if (value === 'off' || value === 'auto') return KvOptions.parse({ mode: value, offload: placement.data });
    const budget = Number(BUDGET.exec(value)?.[1]);
    if (!(budget > 0 && budget <= 1)) throw new HeadroomError('BAD_REQUEST', `--kv must be off, auto or a budget in (0, 1], not "${value}".`, 'kv');
    return KvOptions.parse({ mode: 'budget', budget, offload: placement.data });
}

/** The `--kv` value for KV options: the inverse of parseKvFlag. */
export function formatKvFlag(kv: Pick<KvOptions, 'mode' | 'budget'>): string {
    return kv.mode === 'budget' ? `budget:${kv.budget}` : kv.mode;
}
