import { applyDecorators, Injectable } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { ProviderInfo } from '../../application/ports/provider.port.js';

export type ProviderPluginMetadata = ProviderInfo;

/** The discoverable marker; the registry finds plugins by its key, wherever they are registered. */
export const ProviderPluginMarker = DiscoveryService.createDecorator<ProviderPluginMetadata>();

/**
 * Marks a ProviderAdapter class as a provider plugin. Register the class as a Nest provider in any module;
 * the registry discovers it at start-up, so adding a provider never means editing a list.
 */
export const ProviderPlugin = (metadata: ProviderPluginMetadata): ClassDecorator =>
  applyDecorators(Injectable(), ProviderPluginMarker(metadata));
