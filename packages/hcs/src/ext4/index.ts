export { Ext4Writer, vhdFooter, BLOCK, type Ext4Meta } from './writer.js';
export { layerVhdFromDir, emptyExt4Vhd } from './layer.js';
