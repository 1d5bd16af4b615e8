//! The delta-SBOM layer protocol: which image layers the server has analysed
//! already, their stored fragments (layer extracts), and composing an image SBOM
//! from the fragments of its layers.
