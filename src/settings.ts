import type { ISettingRegistry } from '@jupyterlab/settingregistry';

/**
 * A plugin's settings as one object that stays current: the composite settings once the registry
 * has loaded them, rewritten in place on every change, so holders of the object see edits.
 * Without a registry, or when loading fails (logged), the defaults stay.
 */
export async function loadLiveSettings<T extends object>(
  registry: ISettingRegistry | null,
  pluginId: string,
  defaults: T
): Promise<T> {
  const settings = { ...defaults };
  if (!registry) {
    return settings;
  }
  try {
    const setting = await registry.load(pluginId);
    const read = () => Object.assign(settings, setting.composite as Partial<T>);
    read();
    setting.changed.connect(read);
  } catch (reason) {
    console.warn(`${pluginId}: could not load settings`, reason);
  }
  return settings;
}
