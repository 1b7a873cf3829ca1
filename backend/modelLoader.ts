// The one owner of loading: a window (or `serve`, `ask`, a download opened) asks for a model by
// path, with one-off overrides at most; the loader builds what the engine host is sent from the
// saved settings, chooses the automatic context with the planner, checks the load's rules, and
// has the supervisor send it and record exactly what was sent. Plans and fits for the window are
// built the same way, so the planner shows what a load would do.
import { HeadroomError } from '../common/errors.ts';
import { plainIssue } from '../common/issues.ts';
import { automaticContextOf, LoadParams, planRequestOf, type ContextChoice } from '../common/loadParams.ts';
import type { FitGoal, FitResult, MemoryPlan } from '../common/plan.ts';
import type { Handlers } from '../common/rpc.ts';
import { crossFieldProblems, isSettingKey, kvOptionsOf, SETTING_LABELS, type LoadOverrides, type SettingKey, type Settings } from '../common/settings.ts';
import type { ModelRequest, uiRequests } from '../common/uiContract.ts';
import type { ModelInfo } from '../common/contract.ts';
import type { EngineSupervisor } from './host/supervisor.ts';
import type { SettingsService } from './settings.ts';

export type LoaderHandlers = Handlers<typeof uiRequests, 'model.load' | 'memory.plan' | 'memory.fit'>;

/** A load as built: what the engine host is sent, how its context was chosen, and what it was built from. */
export interface BuiltLoad {
    params: LoadParams;
    context: ContextChoice;
    settings: Settings;
    overrides: LoadOverrides;
}

/** The context the planner starts a fit from (any size it can plan; the fit searches from there). */
const FIT_FROM = 256;

const fmt = (n: number) => n.toLocaleString('en-US');
/** A file's name without its folder (either separator: the path may be a Windows one). */
const fileName = (file: string) => file.split(/[\\/]/).at(-1) ?? file;

/** The load's parameters for these settings, without a context size (the caller chooses it). */
export function loadParamsOf(path: string, settings: Settings): LoadParams {
    return {
        path,
        ...(settings.threads != null ? { threads: settings.threads } : {}),
        gpuLayers: settings.gpuLayers,
        flashAttention: settings.flashAttention,
        kvCacheType: settings.kvCacheType,
        ...(settings.kvMode !== 'off' ? { kv: kvOptionsOf(settings) } : {}),
    };
}

/** A load field's setting, for a refusal to name the box at fault. */
function settingOf(field: string | undefined): SettingKey | undefined {
    const key = field?.replace(/^kv\./, '');
    return isSettingKey(key) ? key : undefined;
}

export class ModelLoader {
    #supervisor: EngineSupervisor;
    #settings: SettingsService;

    constructor(supervisor: EngineSupervisor, settings: SettingsService) {
        this.#supervisor = supervisor;
        this.#settings = settings;
    }

    /**
     * What a load of `path` would send: the saved settings with the overrides, the context they
     * set or else the automatic one, every rule checked. Refused in words naming the setting at fault.
     */
    async build({ path, overrides = {} }: ModelRequest): Promise<BuiltLoad> {
        const settings = this.#settings.settings;
        const effective: Settings = { ...settings, ...overrides };
        const problem = crossFieldProblems(effective)[0];
        if (problem != null) throw new HeadroomError('INVALID_SETTINGS', `${SETTING_LABELS[problem.key]}: ${problem.message}`, problem.key);
        const base = loadParamsOf(path, effective);
        const context = effective.contextSize != null
            ? this.#chosenContext(effective.contextSize, overrides.contextSize != null, settings.contextSize)
            : await this.#automaticContext(base);
        const params = LoadParams.safeParse({ ...base, contextSize: context.tokens }, { error: plainIssue });
        if (!params.success) {
            // The first problem, said under the setting it blames, with how the context was chosen.
            const issue = params.error.issues[0];
            const field = issue?.path.join('.');
            const key = settingOf(field);
            throw new HeadroomError('INVALID_SETTINGS', `${key != null ? `${SETTING_LABELS[key]}: ` : ''}${issue?.message ?? 'invalid'} ${context.summary}`, key ?? field);
        }
        return { params: params.data, context, settings, overrides };
    }

    /**
     * Loads a model as the settings (and the overrides, this once) say; the engine state records what
     * was sent. A load refused before it is sent (a file that is no model, a rule) says what stays loaded.
     */
    async load(request: ModelRequest): Promise<ModelInfo> {
        let built: BuiltLoad;
        try {
            built = await this.build(request);
        } catch (error) {
            const loaded = this.#supervisor.state.model;
            if (!(error instanceof HeadroomError) || loaded == null) throw error;
            throw new HeadroomError(error.code, `${error.message} ${fileName(loaded.path)} is still loaded.`, error.field);
        }
        return this.#supervisor.load(built.params, built);
    }

    /** What a load of the model would need here, planned as it would be built. */
    async plan(request: ModelRequest): Promise<MemoryPlan> {
        const { params, context } = await this.build(request);
        return this.#supervisor.plan(planRequestOf(params, context.tokens));
    }

    /** The largest context, or the least compression, that fits, starting from the load as it would be built. */
    async fit(request: ModelRequest & { goal: FitGoal }): Promise<FitResult> {
        const { params, context } = await this.build(request);
        return this.#supervisor.fit({ request: planRequestOf(params, context.tokens), goal: request.goal });
    }

    handlers(): LoaderHandlers {
        return {
            'model.load': (request) => this.load(request),
            'memory.plan': (request) => this.plan(request),
            'memory.fit': (request) => this.fit(request),
        };
    }

    #chosenContext(tokens: number, override: boolean, saved: number | null): ContextChoice {
        if (!override) return { source: 'setting', tokens, summary: `Set in Settings: ${fmt(tokens)} tokens.` };
        return { source: 'override', tokens, summary: `Chosen for this load; Settings say ${saved == null ? 'automatic' : `${fmt(saved)} tokens`}.` };
    }

    /** The longest context that fits this machine with the model's head plan, up to what it was trained for. */
    async #automaticContext(base: LoadParams): Promise<ContextChoice> {
        const fit = await this.#supervisor.fit({ request: planRequestOf(base, FIT_FROM), goal: 'context' });
        // Nothing fits: what the model was trained for decides the fallback.
        const trained = fit.plan?.model.trainContextSize ?? (await this.#supervisor.plan(planRequestOf(base, FIT_FROM))).model.trainContextSize;
        return automaticContextOf(fit, trained);
    }
}
