import { describe, expect, it } from 'vitest';
import { MINUTE_MS, MinuteWindow } from '../../src/status/window.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('MinuteWindow', () => {
  it('counts requests, 4xx and 5xx apart, and bytes, per wall-clock minute', () => {
    const w = new MinuteWindow(5);
    w.record(T0 + 1_000, 200, 10, 100);
    w.record(T0 + 59_999, 404, 0, 20);
    w.record(T0 + 60_000, 502, 5, 0);
    w.record(T0 + 61_000, 499, 0, 0);
    w.record(T0 + 62_000, 301, 0, 0);
    const minutes = w.minutes(T0 + 90_000);
    expect(minutes).toHaveLength(5);
    expect(minutes.map((m) => m.start)).toEqual([-3, -2, -1, 0, 1].map((i) => new Date(T0 + i * MINUTE_MS).toISOString()));
    expect(minutes[3]).toEqual({ start: new Date(T0).toISOString(), requests: 2, clientErrors: 1, serverErrors: 0, bytesIn: 10, bytesOut: 120 });
    expect(minutes[4]).toEqual({ start: new Date(T0 + MINUTE_MS).toISOString(), requests: 3, clientErrors: 1, serverErrors: 1, bytesIn: 5, bytesOut: 0 });
    expect(minutes.slice(0, 3).every((m) => m.requests === 0)).toBe(true);
  });

  it('forgets minutes that left the window, and reuses their slots', () => {
    const w = new MinuteWindow(5);
    w.record(T0, 500, 0, 0);
    // Four minutes later it is the oldest bucket; five minutes later it is gone.
    expect(w.minutes(T0 + 4 * MINUTE_MS)[0]).toMatchObject({ requests: 1, serverErrors: 1 });
    expect(w.minutes(T0 + 5 * MINUTE_MS).reduce((sum, m) => sum + m.requests, 0)).toBe(0);
    // The same slot, a later minute: reset before counting.
    w.record(T0 + 5 * MINUTE_MS, 200, 0, 0);
    expect(w.minutes(T0 + 5 * MINUTE_MS).map((m) => m.requests)).toEqual([0, 0, 0, 0, 1]);
    // After a long silence, nothing old shows.
    expect(w.minutes(T0 + 60 * MINUTE_MS).every((m) => m.requests === 0)).toBe(true);
  });

  it('keeps only the last minutes of a long stream of requests', () => {
    const w = new MinuteWindow(5);
    // One request every 6 ms for 17 minutes (170 000 records into 5 fixed slots).
    const end = T0 + 17 * MINUTE_MS;
    for (let t = T0; t < end; t += 6) w.record(t, t % 60 === 0 ? 503 : 200, 1, 2);
    const minutes = w.minutes(end - 1);
    expect(minutes.map((m) => m.requests)).toEqual([10_000, 10_000, 10_000, 10_000, 10_000]);
    expect(minutes.map((m) => m.serverErrors)).toEqual([1000, 1000, 1000, 1000, 1000]);
    expect(minutes[4]).toMatchObject({ bytesIn: 10_000, bytesOut: 20_000, start: new Date(T0 + 16 * MINUTE_MS).toISOString() });
  });
});
