/** The app's client for the partner API: what the machine's @Publish and @Unpublish call. */
export class ApiClient {
  constructor(private readonly baseUrl: string) {}

  /**
   * PUT, not POST: the partner holds one document per order, so a re-sent payload replaces it instead of duplicating it.
   * `signal`: @Publish's ctx.timeout(ms), so that a call of a run that lost its lock (a stall) is not sent, and a hung one fails.
   */
  async putOrder(id: string, payload: unknown, signal?: AbortSignal): Promise<void> {
    await this.send('PUT', id, JSON.stringify(payload), signal);
  }

  async deleteOrder(id: string): Promise<void> {
    await this.send('DELETE', id);
  }

  // Throwing on a non-2xx answer is what makes sync-machine keep the old payload and retry the job.
  private async send(method: string, id: string, body?: string, signal?: AbortSignal): Promise<void> {
    const res = await fetch(`${this.baseUrl}/orders/${encodeURIComponent(id)}`, {
      method, body, signal, headers: { 'content-type': 'application/json' },
    });
    if (!res.ok) throw new Error(`partner API answered ${res.status} to ${method} /orders/${id}`);
  }
}
