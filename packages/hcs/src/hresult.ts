/**
 * HRESULTs of computecore.dll (HCS_E_*, facility 0x037: 0x8037xxxx; vdoc
 * virtualization/api/hcs/Reference/HCSHResult.md). The legacy vmcompute.dll exports
 * report NTSTATUS-like 0xC037xxxx codes instead; Berth does not mix the two families.
 */
export const HRESULT = {
  S_OK: 0,
  E_INVALIDARG: 0x80070057,
  E_NOTIMPL: 0x80004001,
  E_ACCESSDENIED: 0x80070005,
  ERROR_FILE_NOT_FOUND: 0x80070002,
  ERROR_PATH_NOT_FOUND: 0x80070003,
  ERROR_ALREADY_EXISTS: 0x800700b7,
  ERROR_NOT_FOUND: 0x80070490,
  /** What a Go error without an HRESULT becomes on the bridge (the Linux GCS's gcserr default). */
  E_FAIL: 0x80004005,
  /** A WaitForProcess whose TimeoutInMs ran out (the Linux GCS's answer). */
  ERROR_TIMEOUT: 0x800705b4,
  ERROR_INVALID_HANDLE: 0x80070006,
  /** An account name HCS could not map (ProcessParameters.User). */
  ERROR_NONE_MAPPED: 0x80070534,
  HCS_E_TERMINATED_DURING_START: 0x80370100,
  HCS_E_IMAGE_MISMATCH: 0x80370101,
  HCS_E_HYPERV_NOT_INSTALLED: 0x80370102,
  HCS_E_INVALID_STATE: 0x80370105,
  HCS_E_UNEXPECTED_EXIT: 0x80370106,
  HCS_E_TERMINATED: 0x80370107,
  HCS_E_CONNECT_FAILED: 0x80370108,
  HCS_E_CONNECTION_TIMEOUT: 0x80370109,
  HCS_E_CONNECTION_CLOSED: 0x8037010a,
  HCS_E_UNKNOWN_MESSAGE: 0x8037010b,
  HCS_E_UNSUPPORTED_PROTOCOL_VERSION: 0x8037010c,
  HCS_E_INVALID_JSON: 0x8037010d,
  HCS_E_SYSTEM_NOT_FOUND: 0x8037010e,
  HCS_E_SYSTEM_ALREADY_EXISTS: 0x8037010f,
  HCS_E_SYSTEM_ALREADY_STOPPED: 0x80370110,
  HCS_E_PROTOCOL_ERROR: 0x80370111,
  HCS_E_INVALID_LAYER: 0x80370112,
  HCS_E_WINDOWS_INSIDER_REQUIRED: 0x80370113,
  HCS_E_SERVICE_NOT_AVAILABLE: 0x80370114,
  HCS_E_OPERATION_NOT_STARTED: 0x80370115,
  HCS_E_OPERATION_ALREADY_STARTED: 0x80370116,
  HCS_E_OPERATION_PENDING: 0x80370117,
  HCS_E_OPERATION_TIMEOUT: 0x80370118,
  HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET: 0x80370119,
  HCS_E_OPERATION_RESULT_ALLOCATION_FAILED: 0x8037011a,
  HCS_E_ACCESS_DENIED: 0x8037011b,
  HCS_E_GUEST_CRITICAL_ERROR: 0x8037011c,
  HCS_E_PROCESS_INFO_NOT_AVAILABLE: 0x8037011d,
  HCS_E_SERVICE_DISCONNECT: 0x8037011e,
  HCS_E_PROCESS_ALREADY_STOPPED: 0x8037011f,
  HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION: 0x80370120,
  HCS_E_OPERATION_ALREADY_CANCELLED: 0x80370121,
  /** computenetwork.dll (HCN_E_*, facility 0x03b; vdoc virtualization/api/hcn/HCNHResult.md). A missing namespace has no HCN code: ERROR_NOT_FOUND. */
  HCN_E_NETWORK_NOT_FOUND: 0x803b0001,
  HCN_E_ENDPOINT_NOT_FOUND: 0x803b0002,
  HCN_E_LAYER_NOT_FOUND: 0x803b0003,
  HCN_E_INVALID_NETWORK: 0x803b000a,
  HCN_E_INVALID_ENDPOINT: 0x803b000c,
  HCN_E_NETWORK_ALREADY_EXISTS: 0x803b0010,
  HCN_E_PORT_ALREADY_EXISTS: 0x803b0013,
  HCN_E_ENDPOINT_ALREADY_ATTACHED: 0x803b0014,
  HCN_E_INVALID_JSON: 0x803b001b,
  HCN_E_ENDPOINT_NOT_ATTACHED: 0x803b0034,
} as const;

export type HresultName = keyof typeof HRESULT;

const NAMES = new Map<number, HresultName>(Object.entries(HRESULT).map(([k, v]) => [v, k as HresultName]));

export function hresultName(hr: number): string {
  return NAMES.get(hr >>> 0) ?? `0x${(hr >>> 0).toString(16).padStart(8, '0')}`;
}

/** A failed HCS/HCN call: the HRESULT, its name, and HCS's result document when it gave one. */
export class HcsError extends Error {
  readonly hresult: number;
  readonly code: string;
  constructor(
    hresult: number,
    readonly operation: string,
    detail?: string,
    readonly resultDocument?: unknown,
  ) {
    super(`${operation}: ${hresultName(hresult)}${detail ? `: ${detail}` : ''}`);
    this.name = 'HcsError';
    this.hresult = hresult >>> 0;
    this.code = hresultName(hresult);
  }
}

export function isHcsError(e: unknown, ...names: HresultName[]): e is HcsError {
  return e instanceof HcsError && (names.length === 0 || names.some((n) => HRESULT[n] === e.hresult));
}
