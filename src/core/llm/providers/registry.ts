import type { LlmConfig } from '../../../config.js';
import { AppError } from '../../errors.js';
import { AnthropicProvider } from './anthropic.js';
import { OpenAiCompatibleProvider } from './openai-compatible.js';
import type { LlmProvider, ProviderName } from './provider.js';

/**
 * Builds providers from config. A provider whose key / URL is missing is not available; asking
 * for it is a `provider_not_configured` error (422), so a panel that names it fails clearly at
 * review start instead of at the first HTTP call. Providers are cached per (name, model): the
 * Anthropic client keeps a connection pool worth reusing.
 */
export interface ProviderRegistry {
  available(): ProviderName[];
  /** `model` overrides the configured default (a reviewer bound to a specific model). */
  get(name: ProviderName, model?: string): LlmProvider;
}

export interface RegistryOptions {
  /** Tests only: observe the wire. */
  fetch?: typeof fetch;
}

export function buildProviderRegistry(llm: LlmConfig, opts: RegistryOptions = {}): ProviderRegistry {
  const cache = new Map<string, LlmProvider>();
  const { anthropic, openai } = llm;
  const configured = (name: ProviderName): boolean =>
    name === 'anthropic' ? anthropic.apiKey !== undefined : openai.baseUrl !== undefined && openai.model !== undefined;

  const create = (name: ProviderName, model: string | undefined): LlmProvider => {
    const common = { timeoutMs: llm.timeoutMs, maxOutputTokens: llm.maxOutputTokens, ...(opts.fetch && { fetch: opts.fetch }) };
    if (name === 'anthropic') {
      return new AnthropicProvider({ apiKey: anthropic.apiKey as string, baseUrl: anthropic.baseUrl, model: model ?? anthropic.model, ...common });
    }
    return new OpenAiCompatibleProvider({
      baseUrl: openai.baseUrl as string,
      apiKey: openai.apiKey,
      model: model ?? (openai.model as string),
      structuredOutput: openai.structuredOutput,
      ...common,
    });
  };

  return {
    available: () => (['anthropic', 'openai-compatible'] as const).filter(configured),
    get(name, model) {
      if (!configured(name)) {
        const need = name === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'QUORUM_OPENAI_BASE_URL and QUORUM_OPENAI_MODEL';
        throw new AppError('provider_not_configured', `the ${name} provider is not configured (set ${need})`, { provider: name });
      }
      const key = `${name}\0${model ?? ''}`;
      let p = cache.get(key);
      if (!p) {
        p = create(name, model);
        cache.set(key, p);
      }
      return p;
    },
  };
}
