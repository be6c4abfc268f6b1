// Module resolution hooks registered by client-pin.mjs: a bare `@trpc/...` import is
// resolved as if written in the pinned folder, whatever file imports it.
let parentURL;

export function initialize(data) {
  parentURL = data.parentURL;
}

export function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith('@trpc/')) {
    return nextResolve(specifier, { ...context, parentURL });
  }
  return nextResolve(specifier, context);
}
