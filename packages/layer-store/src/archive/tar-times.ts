/**
 * tar-stream writes a header's mtime as `seconds | 0`: from 2038-01-19 on that wraps
 * to a negative number and the entry gets a garbage time. Go (dockerd) keeps such times:
 * octal while they fit ustar's 11 digits (to 2242), a PAX `mtime` record beyond. tar-stream
 * cannot write those octal digits, so a time past its limit goes in a PAX `mtime` record
 * (the ustar field 0, as Go writes it there); PAX readers (Go, GNU tar, Berth) take it.
 */
const TAR_STREAM_MAX_SECONDS = 2 ** 31 - 1;

/** The part of a tar-stream header these look at. */
interface TimedHeader {
  mtime?: Date | undefined;
  pax?: unknown;
}

const paxOf = (h: TimedHeader): Record<string, string> => (h.pax && typeof h.pax === 'object' ? (h.pax as Record<string, string>) : {});

/** `header` as tar-stream can write it without losing a time past 2038. */
export function packableHeader<H extends TimedHeader>(header: H): H {
  const mtime = header.mtime;
  if (!mtime) return header;
  const seconds = Math.floor(mtime.getTime() / 1000);
  if (seconds <= TAR_STREAM_MAX_SECONDS && seconds >= 0) return header;
  return { ...header, mtime: new Date(0), pax: { ...paxOf(header), mtime: String(seconds) } };
}

/**
 * `header` with the time of its PAX `mtime` record (tar-stream reads only path, linkpath
 * and size from PAX): a time Go wrote past 2242, or one written by packableHeader.
 */
export function withPaxTimes<H extends TimedHeader>(header: H): H {
  const pax = paxOf(header)['mtime'];
  if (pax === undefined || !/^-?\d+(\.\d+)?$/.test(pax)) return header;
  return { ...header, mtime: new Date(Number(pax) * 1000) };
}
