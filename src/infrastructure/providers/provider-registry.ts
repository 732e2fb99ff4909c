import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import {
  type ProviderAdapter,
  type ProviderInfo,
  type ProviderRegistry,
  UnknownProviderError,
} from '../../application/ports/provider.port.js';
import { isProviderName, type ProviderName } from '../../domain/report/provider-data.js';
import { ProviderPluginMarker } from './provider-plugin.decorator.js';

type Plugin = Readonly<{ info: ProviderInfo; adapter: ProviderAdapter }>;

const isAdapter = (value: unknown): value is ProviderAdapter =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as ProviderAdapter).submit === 'function' &&
  typeof (value as ProviderAdapter).poll === 'function' &&
  typeof (value as ProviderAdapter).openResult === 'function';

/**
 * Every class decorated with @ProviderPlugin and registered in any module of the application. Discovered
 * once all instances exist (onModuleInit, or on first use if another module's hook asks earlier), and
 * validated then, so a misnamed or duplicate plugin stops start-up instead of failing a report later.
 */
@Injectable()
export class DiscoveredProviderRegistry implements ProviderRegistry, OnModuleInit {
  private plugins: ReadonlyMap<ProviderName, Plugin> | undefined;

  constructor(private readonly discovery: DiscoveryService) {}

  onModuleInit(): void {
    this.discovered();
  }

  list(): ProviderInfo[] {
    return [...this.discovered().values()].map((plugin) => plugin.info);
  }

  get(name: ProviderName): ProviderAdapter {
    const plugin = this.discovered().get(name);
    if (!plugin) throw new UnknownProviderError(name);
    return plugin.adapter;
  }

  private discovered(): ReadonlyMap<ProviderName, Plugin> {
    return (this.plugins ??= this.discover());
  }

  private discover(): ReadonlyMap<ProviderName, Plugin> {
    const found: Plugin[] = [];
    for (const wrapper of this.discovery.getProviders({ metadataKey: ProviderPluginMarker.KEY })) {
      const metadata = this.discovery.getMetadataByDecorator(ProviderPluginMarker, wrapper);
      const instance: unknown = wrapper.instance;
      const where = `@ProviderPlugin class ${wrapper.name}`;
      if (!metadata) continue;
      const declared: string = metadata.name;
      if (!isProviderName(declared)) throw new Error(`${where}: unknown provider name ${declared}`);
      // Request-scoped or transient plugins have no shared instance to hand out: reject them loudly.
      if (!isAdapter(instance)) throw new Error(`${where} must be a singleton implementing ProviderAdapter`);
      if (instance.name !== metadata.name) {
        throw new Error(
          `${where}: metadata says ${metadata.name} but the adapter's name is ${instance.name}`,
        );
      }
      found.push({
        info: { name: metadata.name, description: metadata.description, version: metadata.version },
        adapter: instance,
      });
    }
    // Stable order for the API, whatever order the modules were scanned in.
    found.sort((a, b) => a.info.name.localeCompare(b.info.name));
    const plugins = new Map<ProviderName, Plugin>();
    for (const plugin of found) {
      if (plugins.has(plugin.info.name))
        throw new Error(`Two provider plugins are named ${plugin.info.name}`);
      plugins.set(plugin.info.name, plugin);
    }
    return plugins;
  }
}
