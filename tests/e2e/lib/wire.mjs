// Decodes Sigver signaling frames (protobuf `Message`: generation 1 in proto/sigver.proto,
// generation 2 in shared/spec/protocol-v2.md) into one readable line each, for the frame log
// printed when a scenario fails. Hand-written on purpose: the log must show exactly what is
// on the wire, including fields a generated decoder would hide (unknown fields, a field set
// to its default, two oneof members, packed or unpacked repeated ids).

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

// Describes the fields of BYTES with NAMERS: field number -> (value, wireType) -> text; a
// field without one is `unknownN`. Joined with SEPARATOR.
function describeFields(bytes, namers, separator = ' ') {
  return readFields(bytes).map(({ field, wireType, value }) =>
    namers[field] ? namers[field](value, wireType) : `unknown${field}`).join(separator);
}

// The same, for netflux's own payloads: what does not decode is shown by its size.
function describePayload(bytes, namers) {
  try {
    return describeFields(bytes, namers, ',');
  } catch {
    return `${bytes.length}B`;
  }
}

// An ICE candidate message {candidate=1, sdpMid=2, sdpMLineIndex=3} as NAME(address:port).
const iceCandidate = (name) => (bytes) => {
  const cand = readFields(bytes).find((f) => f.field === 1);
  const text = cand ? Buffer.from(cand.value).toString('utf8') : '';
  return text === '' ? `${name}(end)` : `${name}(${text.split(' ').slice(4, 6).join(':')})`;
};
const sdp = (name) => (value) => `${name}(${value.length}B sdp)`;

// Generation 1 (netflux 3.0.0). Content.data holds netflux's webRTCBuilder.Message
// {isInitiator=1, offer=2, answer=3, iceCandidate=4, isError=5, isEnd=6}.
const RTC_PAYLOAD = {
  1: (v) => `isInitiator=${v}`, 2: sdp('offer'), 3: sdp('answer'), 4: iceCandidate('iceCandidate'),
  5: (v) => `isError=${v}`, 6: (v) => `isEnd=${v}`,
};
const CONTENT = {
  1: (v) => `id=${v}`, 2: (v) => `data=[${describePayload(v, RTC_PAYLOAD)}]`,
  3: (v) => `isError=${v}`, 4: (v) => `isEnd=${v}`,
};

// Generation 2 (netflux 4.3.1). Content.data holds netflux's stream message {senderId=1,
// recipientId=2, serviceId=3, content=4}; the services seen on the signaling socket are the
// channel builder (74) and the data channel builder (7431), whose empty message says that
// this side's ICE gathering is over.
const SERVICES = {
  74: { 1: (v) => `negotiation(${v.length}B)`, 2: (v) => `connectionRequest(${v.length}B)`,
    3: (v) => `connectionResponse=${v === 1}` },
  7431: { 1: sdp('offer'), 2: sdp('answer'), 3: iceCandidate('ice') },
};

function describeStreamPayload(data) {
  try {
    const fields = readFields(data);
    const serviceId = (fields.find((f) => f.field === 3) || { value: 0 }).value;
    const content = (fields.find((f) => f.field === 4) || { value: new Uint8Array() }).value;
    if (!SERVICES[serviceId]) return `service${serviceId}(${content.length}B)`;
    if (content.length === 0) return serviceId === 7431 ? 'end' : 'empty';
    return describePayload(content, SERVICES[serviceId]);
  } catch {
    return `${data.length}B`;
  }
}

const CONTENT2 = {
  1: (v) => `senderId=${v}`, 2: (v) => `recipientId=${v}`, 3: (v) => `lastData=${v === 1}`,
  4: (v) => `data=[${describeStreamPayload(v)}]`,
};

function packedIds(bytes) {
  const ids = [];
  for (let pos = 0; pos < bytes.length;) {
    let id;
    [id, pos] = readVarint(bytes, pos);
    ids.push(id);
  }
  return ids;
}

const GROUP_DATA = {
  1: (v) => `id=${v}`,
  2: (v, wireType) => wireType === 2 ? `members=[${packedIds(v).join(',')}](packed)` : `member=${v}`,
};

const MESSAGE_BOOLS = {
  1: { 2: 'isFirst', 3: 'stable', 4: 'heartbeat', 5: 'tryAnother' },
  2: { 1: 'heartbeat', 4: 'connected' },
};
const MESSAGE_SUBMESSAGES = {
  1: { 1: (v) => `content{${describeFields(v, CONTENT)}}` },
  2: { 2: (v) => `content{${describeFields(v, CONTENT2)}}`, 3: (v) => `connect{${describeFields(v, GROUP_DATA)}}` },
};

// One frame (Buffer or string payload as Playwright reports it) of protocol GENERATION (1:
// netflux 3, 2: netflux 4) -> a short description.
export function describeFrame(payload, generation = 1) {
  if (typeof payload === 'string') return `TEXT ${JSON.stringify(payload.slice(0, 80))}`;
  const bytes = new Uint8Array(payload);
  try {
    const fields = readFields(bytes);
    if (fields.length === 0) return 'Message{} (no type)';
    const bools = MESSAGE_BOOLS[generation];
    const submessages = MESSAGE_SUBMESSAGES[generation];
    return fields
      .map(({ field, wireType, value }) =>
        submessages[field] && wireType === 2 ? submessages[field](value)
          : bools[field] && wireType === 0 ? `${bools[field]}=${value === 1}`
            : `unknown-field-${field}`)
      .join(' + ');
  } catch (err) {
    return `UNDECODABLE (${err.message}) ${Buffer.from(bytes).toString('hex').slice(0, 64)}`;
  }
}
