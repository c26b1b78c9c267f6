export { Ext4Writer, BLOCK, type Ext4Meta } from './writer.js';
export { vhdFooter } from './vhd.js';
export { layerVhdFromDir, emptyExt4Vhd } from './layer.js';
export { layerVhdFromTar, type LayerVhdFromTarOptions, type LayerVhdFromTarResult } from './tar.js';
