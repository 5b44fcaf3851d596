/**
 * Parsers run synchronously on the worker's event loop (heartbeats, other jobs, and in the API
 * process the HTTP server share it). Analyses that parse file after file call the returned
 * function between files: once `budgetMs` of work has passed it yields to the event loop.
 */
export function cooperative(budgetMs = 25): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < budgetMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    since = performance.now();
  };
}
