/**
 * A container labelled with a namespace belongs to another API than Docker's (the CRI puts
 * its pods and containers in `k8s.io`, as containerd does): `docker ps` leaves it out
 * unless a label filter asks for it.
 */
export const NAMESPACE_LABEL = 'io.berth.namespace';
