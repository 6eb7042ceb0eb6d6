// What the account screens share: where to go once signed in.

// Only in-app paths are followed after sign-in (never another site).
export function safeNext(query, fallback) {
  const next = query.get("next");
  return next && next.startsWith("/") && !next.startsWith("//") ? next : fallback;
}
