import { type ConnectResponse, encodeFrame, PROTOCOL_VERSION, Xid } from '@conclave/core';

/** Encoders for what the server sends; one place that knows the response shapes. */

export function responseFrame(xid: number, zxid: bigint, err: number, result?: object): Uint8Array {
  return encodeFrame(result === undefined ? { xid, zxid, err } : { xid, zxid, err, ...result });
}

export function notificationFrame(zxid: bigint, type: string, path: string): Uint8Array {
  return encodeFrame({ xid: Xid.NOTIFICATION, zxid, err: 0, event: { type, path } });
}

export function connectResponseFrame(r: Omit<ConnectResponse, 'protocolVersion'>): Uint8Array {
  const frame: ConnectResponse = { protocolVersion: PROTOCOL_VERSION, ...r };
  return encodeFrame(frame);
}
