/**
 * ZooKeeper's error codes, with their names and numbers kept so that a ZooKeeper user reads them
 * without a table. Every failure that crosses a package boundary is a {@link ConclaveError}.
 */
export const ErrorCode = {
  OK: 0,
  SYSTEMERROR: -1,
  RUNTIMEINCONSISTENCY: -2,
  DATAINCONSISTENCY: -3,
  CONNECTIONLOSS: -4,
  MARSHALLINGERROR: -5,
  UNIMPLEMENTED: -6,
  OPERATIONTIMEOUT: -7,
  BADARGUMENTS: -8,
  UNKNOWNSESSION: -12,
  NEWCONFIGNOQUORUM: -13,
  RECONFIGINPROGRESS: -14,
  APIERROR: -100,
  NONODE: -101,
  NOAUTH: -102,
  BADVERSION: -103,
  NOCHILDRENFOREPHEMERALS: -108,
  NODEEXISTS: -110,
  NOTEMPTY: -111,
  SESSIONEXPIRED: -112,
  INVALIDCALLBACK: -113,
  INVALIDACL: -114,
  AUTHFAILED: -115,
  SESSIONMOVED: -118,
  NOTREADONLY: -119,
  EPHEMERALONLOCALSESSION: -120,
  NOWATCHER: -121,
  REQUESTTIMEOUT: -122,
  RECONFIGDISABLED: -123,
  SESSIONCLOSEDREQUIRESASLAUTH: -124,
  QUOTAEXCEEDED: -125,
  THROTTLEDOP: -127,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;
export type Errno = (typeof ErrorCode)[ErrorCodeName];

const nameByErrno = new Map<number, ErrorCodeName>(
  Object.entries(ErrorCode).map(([name, errno]) => [errno, name as ErrorCodeName]),
);

/** The ZooKeeper name of an error number, or undefined for a number ZooKeeper does not define. */
export function errorName(errno: number): ErrorCodeName | undefined {
  return nameByErrno.get(errno);
}

const defaultMessages: Partial<Record<ErrorCodeName, string>> = {
  SYSTEMERROR: 'the server hit an internal error; the request may or may not have been applied',
  RUNTIMEINCONSISTENCY: 'another operation of the same multi failed, so this one was not applied',
  DATAINCONSISTENCY: 'replicas disagree; report this as a bug',
  CONNECTIONLOSS: 'the connection to the server was lost; the request may or may not have been applied',
  MARSHALLINGERROR: 'a frame could not be encoded or decoded',
  UNIMPLEMENTED: 'this operation is not implemented by the server',
  OPERATIONTIMEOUT: 'the operation timed out',
  BADARGUMENTS: 'invalid arguments',
  UNKNOWNSESSION: 'the session is not known to the server',
  APIERROR: 'API error',
  NONODE: 'the node does not exist',
  NOAUTH: 'not authorized for this operation on the node: add auth (addAuth) or fix the ACL',
  BADVERSION: 'the version does not match the node: re-read it and retry',
  NOCHILDRENFOREPHEMERALS: 'ephemeral nodes may not have children',
  NODEEXISTS: 'the node already exists',
  NOTEMPTY: 'the node has children: delete them first (or use deleteall)',
  SESSIONEXPIRED: 'the session has expired: ephemerals and watches are gone; create a new client',
  INVALIDACL: 'invalid ACL',
  AUTHFAILED: 'authentication failed',
  SESSIONMOVED: 'the session moved to another server',
  NOTREADONLY: 'this server is read-only and cannot serve writes',
  NOWATCHER: 'no such watcher is registered',
  REQUESTTIMEOUT: 'the request timed out',
  QUOTAEXCEEDED: 'the quota was exceeded',
  THROTTLEDOP: 'the server is overloaded and throttled this operation: retry later',
};

/** Base class of every error Conclave raises: `code` is ZooKeeper's name, `errno` its number. */
export class ConclaveError extends Error {
  readonly code: ErrorCodeName;
  readonly errno: Errno;
  readonly path: string | undefined;

  constructor(code: ErrorCodeName, message?: string, path?: string, options?: { cause?: unknown }) {
    const text = message ?? defaultMessages[code] ?? code;
    super(path === undefined ? `${code}: ${text}` : `${code}: ${text} (path ${path})`, options);
    this.code = code;
    this.errno = ErrorCode[code];
    this.path = path;
  }

  override get name(): string {
    return this.constructor.name;
  }

  /** The typed error for a ZooKeeper error number (an unknown number becomes a SystemError). */
  static from(errno: number, path?: string, message?: string): ConclaveError {
    const code = errorName(errno);
    if (code === undefined || code === 'OK') {
      return new SystemError(`unknown error number ${errno}${message ? `: ${message}` : ''}`, path);
    }
    const Class = errorClasses[code];
    return new Class(message, path);
  }
}

type ErrorClass = new (message?: string, path?: string, options?: { cause?: unknown }) => ConclaveError;

function defineError(code: Exclude<ErrorCodeName, 'OK'>): ErrorClass {
  return class extends ConclaveError {
    constructor(message?: string, path?: string, options?: { cause?: unknown }) {
      super(code, message, path, options);
    }
  };
}

// One named class per code, so users can `instanceof NoNodeError` as they would catch
// KeeperException.NoNodeException in Java.
export class SystemError extends defineError('SYSTEMERROR') {}
export class RuntimeInconsistencyError extends defineError('RUNTIMEINCONSISTENCY') {}
export class DataInconsistencyError extends defineError('DATAINCONSISTENCY') {}
export class ConnectionLossError extends defineError('CONNECTIONLOSS') {}
export class MarshallingError extends defineError('MARSHALLINGERROR') {}
export class UnimplementedError extends defineError('UNIMPLEMENTED') {}
export class OperationTimeoutError extends defineError('OPERATIONTIMEOUT') {}
export class BadArgumentsError extends defineError('BADARGUMENTS') {}
export class UnknownSessionError extends defineError('UNKNOWNSESSION') {}
export class NewConfigNoQuorumError extends defineError('NEWCONFIGNOQUORUM') {}
export class ReconfigInProgressError extends defineError('RECONFIGINPROGRESS') {}
export class ApiError extends defineError('APIERROR') {}
export class NoNodeError extends defineError('NONODE') {}
export class NoAuthError extends defineError('NOAUTH') {}
export class BadVersionError extends defineError('BADVERSION') {}
export class NoChildrenForEphemeralsError extends defineError('NOCHILDRENFOREPHEMERALS') {}
export class NodeExistsError extends defineError('NODEEXISTS') {}
export class NotEmptyError extends defineError('NOTEMPTY') {}
export class SessionExpiredError extends defineError('SESSIONEXPIRED') {}
export class InvalidCallbackError extends defineError('INVALIDCALLBACK') {}
export class InvalidACLError extends defineError('INVALIDACL') {}
export class AuthFailedError extends defineError('AUTHFAILED') {}
export class SessionMovedError extends defineError('SESSIONMOVED') {}
export class NotReadOnlyError extends defineError('NOTREADONLY') {}
export class EphemeralOnLocalSessionError extends defineError('EPHEMERALONLOCALSESSION') {}
export class NoWatcherError extends defineError('NOWATCHER') {}
export class RequestTimeoutError extends defineError('REQUESTTIMEOUT') {}
export class ReconfigDisabledError extends defineError('RECONFIGDISABLED') {}
export class SessionClosedRequireSaslAuthError extends defineError('SESSIONCLOSEDREQUIRESASLAUTH') {}
export class QuotaExceededError extends defineError('QUOTAEXCEEDED') {}
export class ThrottledOpError extends defineError('THROTTLEDOP') {}

const errorClasses: Record<Exclude<ErrorCodeName, 'OK'>, ErrorClass> = {
  SYSTEMERROR: SystemError,
  RUNTIMEINCONSISTENCY: RuntimeInconsistencyError,
  DATAINCONSISTENCY: DataInconsistencyError,
  CONNECTIONLOSS: ConnectionLossError,
  MARSHALLINGERROR: MarshallingError,
  UNIMPLEMENTED: UnimplementedError,
  OPERATIONTIMEOUT: OperationTimeoutError,
  BADARGUMENTS: BadArgumentsError,
  UNKNOWNSESSION: UnknownSessionError,
  NEWCONFIGNOQUORUM: NewConfigNoQuorumError,
  RECONFIGINPROGRESS: ReconfigInProgressError,
  APIERROR: ApiError,
  NONODE: NoNodeError,
  NOAUTH: NoAuthError,
  BADVERSION: BadVersionError,
  NOCHILDRENFOREPHEMERALS: NoChildrenForEphemeralsError,
  NODEEXISTS: NodeExistsError,
  NOTEMPTY: NotEmptyError,
  SESSIONEXPIRED: SessionExpiredError,
  INVALIDCALLBACK: InvalidCallbackError,
  INVALIDACL: InvalidACLError,
  AUTHFAILED: AuthFailedError,
  SESSIONMOVED: SessionMovedError,
  NOTREADONLY: NotReadOnlyError,
  EPHEMERALONLOCALSESSION: EphemeralOnLocalSessionError,
  NOWATCHER: NoWatcherError,
  REQUESTTIMEOUT: RequestTimeoutError,
  RECONFIGDISABLED: ReconfigDisabledError,
  SESSIONCLOSEDREQUIRESASLAUTH: SessionClosedRequireSaslAuthError,
  QUOTAEXCEEDED: QuotaExceededError,
  THROTTLEDOP: ThrottledOpError,
};

/** True when `err` is a ConclaveError with the given code. */
export function isConclaveError(err: unknown, code?: ErrorCodeName): err is ConclaveError {
  return err instanceof ConclaveError && (code === undefined || err.code === code);
}
