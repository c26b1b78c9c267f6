/**
 * The C prototypes of every function Berth declares from computecore.dll, computestorage.dll,
 * computenetwork.dll and vmcompute.dll (plus the kernel32/ole32 helpers that free their
 * results and move pipe bytes), in koffi's prototype syntax. PCWSTR is `const char16_t *`;
 * results HCS allocates (UTF-16 JSON documents) come back as `void **` and are freed with
 * LocalFree (HCS) or CoTaskMemFree (HCN). The same strings serve `lib.func()` on Windows and
 * `koffi.proto()` in the Linux test that proves they parse.
 */
import type * as Koffi from 'koffi';

export type KoffiModule = typeof Koffi;

/** Types the prototypes use; declared once per process (koffi names are global). */
export function declareTypes(koffi: KoffiModule): void {
  const k = koffi as KoffiModule & { __berthHcsTypes?: boolean };
  if (k.__berthHcsTypes) return;
  koffi.alias('HRESULT', 'int32_t');
  koffi.alias('DWORD', 'uint32_t');
  for (const h of ['HCS_OPERATION', 'HCS_SYSTEM', 'HCS_PROCESS', 'HCN_NETWORK', 'HCN_ENDPOINT', 'HCN_NAMESPACE', 'HCN_LOADBALANCER', 'HCN_CALLBACK', 'HCN_GUESTNETWORKSERVICE', 'HANDLE']) {
    koffi.pointer(h, koffi.opaque());
  }
  koffi.struct('GUID', { Data1: 'uint32_t', Data2: 'uint16_t', Data3: 'uint16_t', Data4: koffi.array('uint8_t', 8) });
  koffi.struct('HCS_PROCESS_INFORMATION', { ProcessId: 'uint32_t', Reserved: 'uint32_t', StdInput: 'HANDLE', StdOutput: 'HANDLE', StdError: 'HANDLE' });
  koffi.struct('HCS_EVENT', { Type: 'int32_t', EventData: 'const char16_t *', Operation: 'HCS_OPERATION' });
  koffi.struct('DriverInfo', { Flavour: 'int32_t', HomeDir: 'const char16_t *' });
  koffi.struct('WC_LAYER_DESCRIPTOR', { LayerId: 'GUID', Flags: 'uint32_t', Pathp: 'const char16_t *' });
  koffi.proto('void __stdcall HCS_OPERATION_COMPLETION(HCS_OPERATION operation, void *context)');
  koffi.proto('void __stdcall HCS_EVENT_CALLBACK(HCS_EVENT *event, void *context)');
  koffi.proto('void __stdcall HCN_NOTIFICATION_CALLBACK(DWORD notificationType, void *context, HRESULT notificationStatus, const char16_t *notificationData)');
  k.__berthHcsTypes = true;
}

const S = 'HRESULT __stdcall';

/** computecore.dll: the documented HCS v2 API. */
export const COMPUTECORE: string[] = [
  `${S} HcsEnumerateComputeSystems(const char16_t *query, HCS_OPERATION operation)`,
  `${S} HcsEnumerateComputeSystemsInNamespace(const char16_t *idNamespace, const char16_t *query, HCS_OPERATION operation)`,
  'HCS_OPERATION __stdcall HcsCreateOperation(void *context, HCS_OPERATION_COMPLETION *callback)',
  'void __stdcall HcsCloseOperation(HCS_OPERATION operation)',
  'void * __stdcall HcsGetOperationContext(HCS_OPERATION operation)',
  `${S} HcsSetOperationContext(HCS_OPERATION operation, void *context)`,
  'HCS_SYSTEM __stdcall HcsGetComputeSystemFromOperation(HCS_OPERATION operation)',
  'HCS_PROCESS __stdcall HcsGetProcessFromOperation(HCS_OPERATION operation)',
  'int32_t __stdcall HcsGetOperationType(HCS_OPERATION operation)',
  'uint64_t __stdcall HcsGetOperationId(HCS_OPERATION operation)',
  `${S} HcsGetOperationResult(HCS_OPERATION operation, _Out_ void **resultDocument)`,
  `${S} HcsGetOperationResultAndProcessInfo(HCS_OPERATION operation, _Out_ HCS_PROCESS_INFORMATION *processInformation, _Out_ void **resultDocument)`,
  `${S} HcsGetProcessorCompatibilityFromSavedState(const char16_t *runtimeFileName, _Out_ void **processorFeaturesString)`,
  `${S} HcsWaitForOperationResult(HCS_OPERATION operation, DWORD timeoutMs, _Out_ void **resultDocument)`,
  `${S} HcsWaitForOperationResultAndProcessInfo(HCS_OPERATION operation, DWORD timeoutMs, _Out_ HCS_PROCESS_INFORMATION *processInformation, _Out_ void **resultDocument)`,
  `${S} HcsSetOperationCallback(HCS_OPERATION operation, void *context, HCS_OPERATION_COMPLETION *callback)`,
  `${S} HcsCancelOperation(HCS_OPERATION operation)`,
  `${S} HcsCreateComputeSystem(const char16_t *id, const char16_t *configuration, HCS_OPERATION operation, const void *securityDescriptor, _Out_ HCS_SYSTEM *computeSystem)`,
  `${S} HcsCreateComputeSystemInNamespace(const char16_t *idNamespace, const char16_t *id, const char16_t *configuration, HCS_OPERATION operation, const void *options, _Out_ HCS_SYSTEM *computeSystem)`,
  `${S} HcsOpenComputeSystem(const char16_t *id, DWORD requestedAccess, _Out_ HCS_SYSTEM *computeSystem)`,
  `${S} HcsOpenComputeSystemInNamespace(const char16_t *idNamespace, const char16_t *id, DWORD requestedAccess, _Out_ HCS_SYSTEM *computeSystem)`,
  'void __stdcall HcsCloseComputeSystem(HCS_SYSTEM computeSystem)',
  `${S} HcsStartComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, const char16_t *options)`,
  `${S} HcsShutDownComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, const char16_t *options)`,
  `${S} HcsTerminateComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, const char16_t *options)`,
  `${S} HcsCrashComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, const char16_t *options)`,
  `${S} HcsPauseComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, const char16_t *options)`,
  `${S} HcsResumeComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, const char16_t *options)`,
  `${S} HcsSaveComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, const char16_t *options)`,
  `${S} HcsGetComputeSystemProperties(HCS_SYSTEM computeSystem, HCS_OPERATION operation, const char16_t *propertyQuery)`,
  `${S} HcsModifyComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, const char16_t *configuration, HANDLE identity)`,
  `${S} HcsWaitForComputeSystemExit(HCS_SYSTEM computeSystem, DWORD timeoutMs, _Out_ void **result)`,
  `${S} HcsSetComputeSystemCallback(HCS_SYSTEM computeSystem, DWORD callbackOptions, void *context, HCS_EVENT_CALLBACK *callback)`,
  `${S} HcsCreateProcess(HCS_SYSTEM computeSystem, const char16_t *processParameters, HCS_OPERATION operation, const void *securityDescriptor, _Out_ HCS_PROCESS *process)`,
  `${S} HcsOpenProcess(HCS_SYSTEM computeSystem, DWORD processId, DWORD requestedAccess, _Out_ HCS_PROCESS *process)`,
  'void __stdcall HcsCloseProcess(HCS_PROCESS process)',
  `${S} HcsTerminateProcess(HCS_PROCESS process, HCS_OPERATION operation, const char16_t *options)`,
  `${S} HcsSignalProcess(HCS_PROCESS process, HCS_OPERATION operation, const char16_t *options)`,
  `${S} HcsGetProcessInfo(HCS_PROCESS process, HCS_OPERATION operation)`,
  `${S} HcsGetProcessProperties(HCS_PROCESS process, HCS_OPERATION operation, const char16_t *propertyQuery)`,
  `${S} HcsModifyProcess(HCS_PROCESS process, HCS_OPERATION operation, const char16_t *settings)`,
  `${S} HcsSetProcessCallback(HCS_PROCESS process, DWORD callbackOptions, void *context, HCS_EVENT_CALLBACK *callback)`,
  `${S} HcsWaitForProcessExit(HCS_PROCESS process, DWORD timeoutMs, _Out_ void **result)`,
  `${S} HcsGetServiceProperties(const char16_t *propertyQuery, _Out_ void **result)`,
  `${S} HcsModifyServiceSettings(const char16_t *settings, _Out_ void **result)`,
  `${S} HcsSubmitWerReport(const char16_t *settings)`,
  `${S} HcsCreateEmptyGuestStateFile(const char16_t *guestStateFilePath)`,
  `${S} HcsCreateEmptyRuntimeStateFile(const char16_t *runtimeStateFilePath)`,
  `${S} HcsGrantVmAccess(const char16_t *vmId, const char16_t *filePath)`,
  `${S} HcsRevokeVmAccess(const char16_t *vmId, const char16_t *filePath)`,
  `${S} HcsGrantVmGroupAccess(const char16_t *filePath)`,
  `${S} HcsRevokeVmGroupAccess(const char16_t *filePath)`,
];

/** computestorage.dll: layers. */
export const COMPUTESTORAGE: string[] = [
  `${S} HcsImportLayer(const char16_t *layerPath, const char16_t *sourceFolderPath, const char16_t *layerData)`,
  `${S} HcsExportLayer(const char16_t *layerPath, const char16_t *exportFolderPath, const char16_t *layerData, const char16_t *options)`,
  `${S} HcsExportLegacyWritableLayer(const char16_t *writableLayerMountPath, const char16_t *writableLayerFolderPath, const char16_t *exportFolderPath, const char16_t *layerData)`,
  `${S} HcsDestroyLayer(const char16_t *layerPath)`,
  `${S} HcsSetupBaseOSLayer(const char16_t *layerPath, HANDLE vhdHandle, const char16_t *options)`,
  `${S} HcsInitializeWritableLayer(const char16_t *writableLayerPath, const char16_t *layerData, const char16_t *options)`,
  `${S} HcsInitializeLegacyWritableLayer(const char16_t *writableLayerMountPath, const char16_t *writableLayerFolderPath, const char16_t *layerData, const char16_t *options)`,
  `${S} HcsAttachLayerStorageFilter(const char16_t *layerPath, const char16_t *layerData)`,
  `${S} HcsDetachLayerStorageFilter(const char16_t *layerPath)`,
  `${S} HcsFormatWritableLayerVhd(HANDLE vhdHandle)`,
  `${S} HcsGetLayerVhdMountPath(HANDLE vhdHandle, _Out_ void **mountPath)`,
  `${S} HcsSetupBaseOSVolume(const char16_t *layerPath, const char16_t *volumePath, const char16_t *options)`,
  `${S} HcsAttachOverlayFilter(const char16_t *volumePath, const char16_t *layerData)`,
  `${S} HcsDetachOverlayFilter(const char16_t *volumePath, const char16_t *layerData)`,
];

const hcnKind = (k: string, handle: string, create: string): string[] => [
  `${S} HcnEnumerate${k}s(const char16_t *query, _Out_ void **${k.toLowerCase()}s, _Out_ void **errorRecord)`,
  create,
  `${S} HcnOpen${k}(const GUID *id, _Out_ ${handle} *${k.toLowerCase()}, _Out_ void **errorRecord)`,
  `${S} HcnModify${k}(${handle} ${k.toLowerCase()}, const char16_t *settings, _Out_ void **errorRecord)`,
  `${S} HcnQuery${k}Properties(${handle} ${k.toLowerCase()}, const char16_t *query, _Out_ void **properties, _Out_ void **errorRecord)`,
  `${S} HcnDelete${k}(const GUID *id, _Out_ void **errorRecord)`,
  `${S} HcnClose${k}(${handle} ${k.toLowerCase()})`,
];

/** computenetwork.dll: HCN. Synchronous calls; an error comes with a JSON error record. */
export const COMPUTENETWORK: string[] = [
  ...hcnKind('Network', 'HCN_NETWORK', `${S} HcnCreateNetwork(const GUID *id, const char16_t *settings, _Out_ HCN_NETWORK *network, _Out_ void **errorRecord)`),
  ...hcnKind('Namespace', 'HCN_NAMESPACE', `${S} HcnCreateNamespace(const GUID *id, const char16_t *settings, _Out_ HCN_NAMESPACE *namespace, _Out_ void **errorRecord)`),
  ...hcnKind('Endpoint', 'HCN_ENDPOINT', `${S} HcnCreateEndpoint(HCN_NETWORK network, const GUID *id, const char16_t *settings, _Out_ HCN_ENDPOINT *endpoint, _Out_ void **errorRecord)`),
  ...hcnKind('LoadBalancer', 'HCN_LOADBALANCER', `${S} HcnCreateLoadBalancer(const GUID *id, const char16_t *settings, _Out_ HCN_LOADBALANCER *loadBalancer, _Out_ void **errorRecord)`),
  `${S} HcnRegisterServiceCallback(HCN_NOTIFICATION_CALLBACK *callback, void *context, _Out_ HCN_CALLBACK *callbackHandle)`,
  `${S} HcnUnregisterServiceCallback(HCN_CALLBACK callbackHandle)`,
  `${S} HcnRegisterGuestNetworkServiceCallback(HCN_GUESTNETWORKSERVICE guestNetworkService, HCN_NOTIFICATION_CALLBACK *callback, void *context, _Out_ HCN_CALLBACK *callbackHandle)`,
  `${S} HcnUnregisterGuestNetworkServiceCallback(HCN_CALLBACK callbackHandle)`,
];

/** vmcompute.dll's legacy layer calls hcsshim still uses to mount a scratch (wclayer) and name layers. */
export const VMCOMPUTE: string[] = [
  `${S} NameToGuid(const char16_t *name, _Out_ GUID *guid)`,
  `${S} ActivateLayer(DriverInfo *info, const char16_t *id)`,
  `${S} DeactivateLayer(DriverInfo *info, const char16_t *id)`,
  `${S} PrepareLayer(DriverInfo *info, const char16_t *id, WC_LAYER_DESCRIPTOR *descriptors, DWORD count)`,
  `${S} UnprepareLayer(DriverInfo *info, const char16_t *id)`,
  `${S} GetLayerMountPath(DriverInfo *info, const char16_t *id, _Inout_ uintptr_t *length, _Out_ char16_t *buffer)`,
  `${S} CreateSandboxLayer(DriverInfo *info, const char16_t *id, void *parent, WC_LAYER_DESCRIPTOR *descriptors, DWORD count)`,
  `${S} DestroyLayer(DriverInfo *info, const char16_t *id)`,
];

/** kernel32.dll / ole32.dll: freeing HCS's and HCN's results, moving bytes through the stdio pipes, backup reads and writes. */
export const KERNEL32: string[] = [
  'void * __stdcall LocalFree(void *mem)',
  'int __stdcall CloseHandle(HANDLE handle)',
  'int __stdcall ReadFile(HANDLE file, _Out_ uint8_t *buffer, DWORD toRead, _Out_ DWORD *read, void *overlapped)',
  'int __stdcall WriteFile(HANDLE file, const uint8_t *buffer, DWORD toWrite, _Out_ DWORD *written, void *overlapped)',
  'DWORD __stdcall GetLastError()',
  // files with their security descriptors and streams (BackupFiles): a layer's files in and out
  'HANDLE __stdcall CreateFileW(const char16_t *name, DWORD access, DWORD share, void *security, DWORD disposition, DWORD flags, HANDLE templateFile)',
  'int __stdcall BackupRead(HANDLE file, _Out_ uint8_t *buffer, DWORD toRead, _Out_ DWORD *read, int abort, int processSecurity, _Inout_ void **context)',
  'int __stdcall BackupWrite(HANDLE file, const uint8_t *buffer, DWORD toWrite, _Out_ DWORD *written, int abort, int processSecurity, _Inout_ void **context)',
];
export const OLE32: string[] = ['void __stdcall CoTaskMemFree(void *mem)'];

export const LIBRARIES: Record<string, string[]> = {
  'computecore.dll': COMPUTECORE,
  'computestorage.dll': COMPUTESTORAGE,
  'computenetwork.dll': COMPUTENETWORK,
  'vmcompute.dll': VMCOMPUTE,
  'kernel32.dll': KERNEL32,
  'ole32.dll': OLE32,
};

/** The function name of a prototype string. */
export function functionName(proto: string): string {
  const m = /([A-Za-z_][A-Za-z0-9_]*)\s*\(/.exec(proto);
  if (!m) throw new Error(`not a prototype: ${proto}`);
  return m[1]!;
}
