// The live preview: frames from the socket drawn as round LED dots on a canvas.
//
// Each frame is put 1:1 into a small offscreen canvas, scaled up without smoothing into
// the visible one (one cell per LED, whole device pixels so it stays crisp), then covered
// by a black mask with a round hole per cell. The canvas keeps the matrix's aspect ratio.

const MAX_CANVAS_PX = 2048;

export class MatrixPreview {
  /** `container` is the element whose width the matrix fills. */
  constructor(canvas, container) {
    this.canvas = canvas;
    this.container = container;
    this.ctx = canvas.getContext("2d");
    this.source = document.createElement("canvas");
    this.sourceCtx = this.source.getContext("2d");
    this.image = null;
    this.cell = 0;
    this.mask = null;
    this.width = 0;
    this.height = 0;
    this.frames = 0;
    this.last = null;
    this.pending = null;
    this.resizeObserver = new ResizeObserver(() => this.layout(this.width, this.height, true));
    this.resizeObserver.observe(container);
  }

  /** Size the canvas for a `width` x `height` matrix (before any frame arrives, too). */
  layout(width, height, force = false) {
    if (!width || !height) return;
    const box = this.container.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const available = Math.max(64, (box.width - 16) * dpr);
    const cell = Math.max(1, Math.min(Math.floor(available / width), Math.floor(MAX_CANVAS_PX / Math.max(width, height))));
    if (!force && cell === this.cell && width === this.width && height === this.height) return;
    this.width = width;
    this.height = height;
    this.cell = cell;
    this.canvas.width = width * cell;
    this.canvas.height = height * cell;
    this.source.width = width;
    this.source.height = height;
    this.image = this.sourceCtx.createImageData(width, height);
    this.mask = cell >= 3 ? this.makeMask(cell) : null;
    if (this.last) this.paint();
    else this.clear();
  }

  makeMask(cell) {
    const tile = document.createElement("canvas");
    tile.width = tile.height = cell;
    const t = tile.getContext("2d");
    t.fillStyle = "#000";
    t.fillRect(0, 0, cell, cell);
    t.globalCompositeOperation = "destination-out";
    t.beginPath();
    t.arc(cell / 2, cell / 2, cell * 0.4, 0, Math.PI * 2);
    t.fill();
    return this.ctx.createPattern(tile, "repeat");
  }

  clear() {
    // Unlit LEDs: dark grey dots on black, so the matrix is visible before any frame.
    const { ctx, canvas, cell } = this;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (cell >= 3) {
      ctx.fillStyle = "#1a1a1a";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.fillStyle = this.mask;
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    }
  }

  /** Draw one frame (`rgb`: width*height*3 bytes); drawing waits for the next paint. */
  draw(width, height, rgb) {
    this.frames += 1;
    if (width !== this.width || height !== this.height) this.layout(width, height, true);
    this.last = rgb;
    if (this.pending === null) this.pending = requestAnimationFrame(() => { this.pending = null; this.paint(); });
  }

  paint() {
    const { image, last: rgb } = this;
    if (!image || !rgb) return;
    const out = image.data;
    for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
      out[i] = rgb[j];
      out[i + 1] = rgb[j + 1];
      out[i + 2] = rgb[j + 2];
      out[i + 3] = 255;
    }
    this.sourceCtx.putImageData(image, 0, 0);
    const { ctx, canvas } = this;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.source, 0, 0, canvas.width, canvas.height);
    if (this.mask) {
      ctx.fillStyle = this.mask;
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    }
  }

  destroy() {
    this.resizeObserver.disconnect();
    if (this.pending !== null) cancelAnimationFrame(this.pending);
  }
}
