/** How many decoded pixels the OCR pipeline holds at once. */
/**
 * A counting semaphore over pixels, first come first served: {@link PixelBudget.acquire} waits until the
 * pixels are free. A request larger than the whole budget waits until it has the budget to itself.
 */
export class PixelBudget {
  private available: number;
  private readonly waiting: { readonly pixels: number; readonly admit: () => void }[] = [];

  constructor(readonly capacity: number) {
    this.available = capacity;
  }

  /** Pixels held now. */
  get held(): number {
    return this.capacity - this.available;
  }

  /** Takes `pixels` (at most the capacity) once they are free; resolves to the function that gives them back. */
  async acquire(pixels: number): Promise<() => void> {
    const wanted = Math.min(pixels, this.capacity);
    // Behind anyone already waiting, so a stream of small images cannot starve a large one.
    if (this.waiting.length === 0 && wanted <= this.available) this.available -= wanted;
    else await new Promise<void>((admit) => this.waiting.push({ pixels: wanted, admit }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.available += wanted;
      this.admitWaiting();
    };
  }

  private admitWaiting(): void {
    for (let next = this.waiting[0]; next && next.pixels <= this.available; next = this.waiting[0]) {
      this.waiting.shift();
      this.available -= next.pixels;
      next.admit();
    }
  }
}
