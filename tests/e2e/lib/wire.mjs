// Decodes Sigver signaling frames (protobuf `Message`, see proto/sigver.proto) into one
// readable line each, for the frame log printed when a scenario fails. Hand-written on
// purpose: the log must show exactly what is on the wire, including fields a generated
// decoder would hide (unknown fields, a field set to its default, two oneof members).

function readVarint(bytes, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (pos >= bytes.length) throw new Error('truncated varint');
    const b = bytes[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
    if (shift > 63) throw new Error('varint too long');
  }
}

// Splits protobuf bytes into [{field, wireType, value}] where value is a number (varint)
// or a Uint8Array (length-delimited).
export function readFields(bytes) {
  const fields = [];
  let pos = 0;
  while (pos < bytes.length) {
    let tag;
    [tag, pos] = readVarint(bytes, pos);
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === 0) {
      let v;
      [v, pos] = readVarint(bytes, pos);
      fields.push({ field, wireType, value: v });
    } else if (wireType === 2) {
      let len;
      [len, pos] = readVarint(bytes, pos);
      if (pos + len > bytes.length) throw new Error('truncated bytes field');
      fields.push({ field, wireType, value: bytes.subarray(pos, pos + len) });
      pos += len;
    } else if (wireType === 5) {
      fields.push({ field, wireType, value: bytes.subarray(pos, pos + 4) });
      pos += 4;
    } else if (wireType === 1) {
      fields.push({ field, wireType, value: bytes.subarray(pos, pos + 8) });
      pos += 8;
    } else {
      throw new Error(`unsupported wire type ${wireType}`);
    }
  }
  return fields;
}

// netflux's own payload inside Content.data: webRTCBuilder.Message
// {isInitiator=1, offer=2, answer=3, iceCandidate=4, isError=5, isEnd=6}.
function describeRtcPayload(data) {
  try {
    const parts = readFields(data).map(({ field, value }) => {
      switch (field) {
        case 1: return `isInitiator=${value}`;
        case 2: return `offer(${value.length}B sdp)`;
        case 3: return `answer(${value.length}B sdp)`;
        case 4: {
          const cand = readFields(value).find((f) => f.field === 1);
          const text = cand ? Buffer.from(cand.value).toString('utf8') : '';
          return text === '' ? 'iceCandidate(end)' : `iceCandidate(${text.split(' ').slice(4, 6).join(':')})`;
        }
        case 5: return `isError=${value}`;
        case 6: return `isEnd=${value}`;
        default: return `field${field}`;
      }
    });
    return parts.join(',');
  } catch {
    return `${data.length}B`;
  }
}

function describeContent(bytes) {
  const parts = readFields(bytes).map(({ field, value }) => {
    switch (field) {
      case 1: return `id=${value}`;
      case 2: return `data=[${describeRtcPayload(value)}]`;
      case 3: return `isError=${value}`;
      case 4: return `isEnd=${value}`;
      default: return `unknown${field}`;
    }
  });
  return `content{${parts.join(' ')}}`;
}

const MESSAGE_BOOLS = { 2: 'isFirst', 3: 'stable', 4: 'heartbeat', 5: 'tryAnother' };

// One frame (Buffer or string payload as Playwright reports it) -> a short description.
export function describeFrame(payload) {
  if (typeof payload === 'string') return `TEXT ${JSON.stringify(payload.slice(0, 80))}`;
  const bytes = new Uint8Array(payload);
  try {
    const fields = readFields(bytes);
    if (fields.length === 0) return 'Message{} (no type)';
    return fields
      .map(({ field, value }) =>
        field === 1 ? describeContent(value)
          : MESSAGE_BOOLS[field] ? `${MESSAGE_BOOLS[field]}=${value === 1}`
            : `unknown-field-${field}`)
      .join(' + ');
  } catch (err) {
    return `UNDECODABLE (${err.message}) ${Buffer.from(bytes).toString('hex').slice(0, 64)}`;
  }
}
