import { getLlama } from 'node-llama-cpp';
try {
    const llama = await getLlama({ gpu: 'cuda', build: 'never', cmakeOptions: { HEADROOM_HEADWISE_KV: 'ON' }, usePrebuiltBinaries: false, logLevel: 'debug' });
    console.log('loaded: gpu =', llama.gpu, 'devices =', await llama.getGpuDeviceNames(), 'buildType', llama.buildType);
} catch (e) { console.log('error:', e.message); }
