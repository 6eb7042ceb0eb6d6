// Calling later: a screen's refresh on a timer (poll), a call that waits for typing
// to pause (debounce), and work put off until the screen is painted (afterFirstPaint).

// Calls `fn({background: true})` every `ms` while the page is visible (and at once when
// it becomes visible again); `fn` hands the option to its get() calls, so the refreshes
// do not keep the session awake. Returns stop(). A call still running is never
// overlapped by the next one.
export function poll(fn, ms) {
  let timer = null;
  let stopped = false;
  let running = false;
  const tick = async () => {
    timer = null;
    if (stopped) {
      return;
    }
    if (!document.hidden && !running) {
      running = true;
      try {
        await fn({ background: true });
      } catch (error) {
        console.warn("poll failed", error);
      } finally {
        running = false;
      }
    }
    if (!stopped) {
      timer = setTimeout(tick, ms);
    }
  };
  const onVisible = () => {
    if (!document.hidden && !stopped && timer !== null) {
      clearTimeout(timer);
      tick();
    }
  };
  document.addEventListener("visibilitychange", onVisible);
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisible);
  };
}

// fn debounced by `ms`; .cancel() drops a pending call, .now() runs it at once.
export function debounce(fn, ms) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(...args); }, ms);
  };
  debounced.cancel = () => { clearTimeout(timer); timer = null; };
  debounced.now = (...args) => { debounced.cancel(); fn(...args); };
  return debounced;
}

// Resolves once `element` is in the document and a frame with it has been painted (or
// after about two seconds of frames without it: a screen left before it was shown).
// Screens start their map after it, so the form around the map is drawn first and
// Leaflet's download and set-up do not delay the first paint.
export function afterFirstPaint(element) {
  return new Promise((resolve) => {
    let frames = 0;
    const check = () => {
      if (element.isConnected || ++frames > 120) {
        requestAnimationFrame(() => setTimeout(resolve, 0));
      } else {
        requestAnimationFrame(check);
      }
    };
    check();
  });
}
