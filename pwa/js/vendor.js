// Third-party browser libraries (from npm, served under /app/vendor/), loaded on demand
// as classic scripts: each defines a global (jsQR, tus, L). No inline script anywhere.

const loaded = new Map();

export function loadScript(name, globalName) {
  if (globalName && window[globalName]) {
    return Promise.resolve(window[globalName]);
  }
  if (!loaded.has(name)) {
    loaded.set(name, new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = `/app/vendor/${name}`;
      script.async = true;
      script.onload = () => resolve(globalName ? window[globalName] : undefined);
      script.onerror = () => {
        loaded.delete(name);
        reject(new Error(`${name} could not be loaded`));
      };
      document.head.append(script);
    }));
  }
  return loaded.get(name);
}

export function loadStyle(name) {
  const href = `/app/vendor/${name}`;
  if (!document.querySelector(`link[href="${href}"]`)) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.append(link);
  }
}
