/** COMPRESS DEFLATE (RFC 4978): the tagged OK goes out uncompressed, then both directions deflate. */
import type { CommandSpec } from '../context.js';
import { asText, expectArgs } from '../../protocol/tokens.js';
import { bad, no } from '../errors.js';

export const compress: CommandSpec = {
  name: 'COMPRESS',
  states: ['authenticated', 'selected'],
  async run({ session, tag, args }) {
    expectArgs(args, 1);
    if (asText(args[0], 'mechanism').toUpperCase() !== 'DEFLATE') throw bad('Unknown compression mechanism');
    if (session.compressed) throw no('COMPRESSIONACTIVE', 'DEFLATE is already active.');
    await session.sendUpdates();
    session.reply(tag, 'OK', 'DEFLATE active.');
    session.startCompression();
  },
};
