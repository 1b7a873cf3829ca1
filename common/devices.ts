// Where memory lives, and how much: the vocabulary of every memory figure Headroom shows.
import { z } from 'zod';

/** GPU memory, or the machine's RAM (also when a GPU backend owns the pinned host buffer). */
export const Device = z.enum(['gpu', 'cpu']);
export type Device = z.infer<typeof Device>;

export const Bytes = z.number().int().nonnegative();

export const DeviceBytes = z.object({ gpu: Bytes, cpu: Bytes });
export type DeviceBytes = z.infer<typeof DeviceBytes>;

export function sumByDevice(items: readonly { device: Device; bytes: number }[]): DeviceBytes {
    const total: DeviceBytes = { gpu: 0, cpu: 0 };
    for (const item of items) total[item.device] += item.bytes;
    return total;
}
