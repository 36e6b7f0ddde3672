/** IDLE (RFC 2177): push mailbox updates until the client sends DONE. */
import type { CommandSpec } from '../context.js';

export const idle: CommandSpec = {
  name: 'IDLE',
  states: ['authenticated', 'selected'],
  async run({ session, tag }) {
    session.continuation('idling');
    await session.sendUpdates(true);
    let wake: () => void = () => undefined;
    session.idleWake = () => wake();
    const done = session.nextLine();
    let finished = false;
    void done.then(() => {
      finished = true;
      wake();
    });
    while (!finished && !session.isClosed) {
      // without a watch (cluster trouble) the mailbox is polled instead
      const poll =
        session.selected && !session.selected.watching
          ? setTimeout(() => wake(), session.env.limits.idlePollMs)
          : undefined;
      await new Promise<void>((r) => {
        wake = r;
      });
      clearTimeout(poll);
      if (!finished) await session.sendUpdates(true);
    }
    session.idleWake = undefined;
    if (session.isClosed) return;
    const line = await done;
    if (line.trim().toUpperCase() !== 'DONE') {
      session.reply(tag, 'BAD', 'Expected DONE.');
      return;
    }
    await session.ok(tag, 'Idle completed.');
  },
};
