// What the server tells the app before sign-in (GET /api/app-config): the map tiles, and
// the rules of an ask as the server defines them (app/footage: its states, which are open,
// which take clips, the answers and the transitions). Screens ask these questions here
// instead of keeping their own lists of states; the words for each state live with the
// owner's screens (views/owner/common.js).

import { get } from "./api.js";

let pending = null;

// The API's answer ({ok, data} or {ok: false, error}), read once per page load; a failed
// read is tried again by the next caller.
export function appConfig() {
  if (!pending) {
    pending = get("/api/app-config").then((answer) => {
      if (!answer.ok) {
        pending = null;
      }
      return answer;
    });
  }
  return pending;
}

// The questions screens ask of an ask's state.
export class AskRules {
  constructor({ states, open, uploadable, actions, transitions }) {
    this.states = states;
    this.open = open;
    this.uploadable = uploadable;
    this.actions = actions;
    this.transitions = transitions;
  }

  // Waiting for the owner's answer.
  isOpen(state) {
    return this.open.includes(state);
  }

  // The owner may add clips.
  takesClips(state) {
    return this.uploadable.includes(state);
  }

  // Nothing more happens to it.
  isFinal(state) {
    return (this.transitions[state] || []).length === 0;
  }

  // Approved, and no clip delivered yet: the owner's next step is the upload.
  awaitsClips(state) {
    return this.takesClips(state) && !this.isFinal(state);
  }
}

// The languages the server keeps for an account (`languages` of /api/app-config), or null
// from a server that predates them: the choice then stays on this device only.
export async function serverLanguages() {
  const answer = await appConfig();
  return answer.ok && Array.isArray(answer.data.languages) ? answer.data.languages : null;
}

// {ok: true, data: AskRules}, or the failed answer (shown with errorCard like any other).
export async function askRules() {
  const answer = await appConfig();
  return answer.ok ? { ok: true, status: answer.status, data: new AskRules(answer.data.asks) } : answer;
}
