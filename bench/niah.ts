// `npm run niah`'s outputs: the run (engine/niah.ts) written as niah.json and its heatmap
// (common/niah.ts, the one the app's Test recall shows) as niah.png.
import { niahHeatmapSvg, type NiahResult } from '../common/niah.ts';
import { writeRun } from './results.ts';

export function writeNiahOutputs(result: NiahResult, outDir: string): Promise<{ json: string; png: string }> {
    return writeRun(outDir, 'niah', result, niahHeatmapSvg(result));
}
