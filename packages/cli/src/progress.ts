interface ProgressState {
  total: number;
  placed: number;
  /** Orders the intake refused or never answered. */
  notPlaced: number;
  final: number;
}

/** Where a demo run reports how far it got (stderr). */
export interface Progress {
  update(state: ProgressState): void;
  /** The last state, then a new line. */
  finish(state: ProgressState): void;
}

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const width = 30;

/**
 * The bar's cells: `#` for the orders done (final, or refused by the intake), `=` for those
 * placed and not final yet, `-` for those still to place; so it moves while orders are placed.
 */
function barCells({ total, placed, notPlaced, final }: ProgressState): string {
  const cells = (count: number) => (total === 0 ? width : Math.round((count / total) * width));
  const done = Math.min(width, cells(final + notPlaced));
  const answered = Math.max(done, Math.min(width, cells(placed + notPlaced)));
  return `${'#'.repeat(done)}${'='.repeat(answered - done)}${'-'.repeat(width - answered)}`;
}

/**
 * A bar (see barCells) redrawn in place when `stream` is a terminal; otherwise plain lines, one per tenth
 * of the way (at most one a second), so that logs and CI output stay readable.
 */
export function createProgress(stream: ProgressStream, now: () => number = Date.now): Progress {
  const started = now();
  const elapsed = () => `${Math.round((now() - started) / 1000)}s`;
  const describe = (state: ProgressState) =>
    `${state.placed}/${state.total} placed${state.notPlaced > 0 ? ` (${state.notPlaced} refused)` : ''}, ` +
    `${state.final}/${state.total} final, ${elapsed()}`;

  if (stream.isTTY) {
    let lastDraw = 0;
    const draw = (state: ProgressState) => {
      const bar = `[${barCells(state)}]`;
      const line = `${bar} ${describe(state)}`;
      stream.write(`\r\x1b[2K${line.slice(0, Math.max(20, (stream.columns || 120) - 1))}`);
      lastDraw = now();
    };
    return {
      update: (state) => {
        if (now() - lastDraw >= 100) draw(state);
      },
      finish: (state) => {
        draw(state);
        stream.write('\n');
      },
    };
  }

  let lastStep = -1;
  let lastLine = Number.NEGATIVE_INFINITY;
  let lastState = '';
  const line = (state: ProgressState) => {
    stream.write(`demo: ${describe(state)}\n`);
    lastLine = now();
    lastState = JSON.stringify(state);
  };
  return {
    update: (state) => {
      const total = Math.max(1, state.total);
      const step = Math.floor(((state.placed + state.notPlaced + state.final) / (2 * total)) * 10);
      if (step > lastStep && now() - lastLine >= 1000) {
        lastStep = step;
        line(state);
      }
    },
    finish: (state) => {
      if (JSON.stringify(state) !== lastState) line(state);
    },
  };
}
