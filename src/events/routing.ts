/** Compiles a type glob: `*` matches any run of characters (dots included); everything else is literal. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*");
  return new RegExp(`^${body}$`);
}

/** A predicate for "does this audit event type go to this sink". */
export function typeMatcher(patterns: readonly string[]): (type: string) => boolean {
  if (patterns.includes("*")) return () => true;
  const res = patterns.map(globToRegExp);
  return (type) => res.some((re) => re.test(type));
}
