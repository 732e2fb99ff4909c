/**
 * Set when shutdown begins: readiness answers 503 from then on, so load balancers stop sending traffic
 * while in-flight requests finish.
 */
export class DrainingState {
  private draining = false;

  start(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }
}
