"""Settings of the textured-mesh export (:func:`facetex.render.export.export_mesh`)."""

from __future__ import annotations

from dataclasses import dataclass

from facetex.checks import check_choice, check_declared, check_integer, check_number, setting

__all__ = ["ExportConfig"]


@dataclass(frozen=True)
class ExportConfig:
    """Settings of :func:`export_mesh`.

    Attributes
    ----------
    basename : file stem of the meshes (``face`` → ``face.obj``, ``face.mtl``, ``face.glb``).
    albedo_name, normal_name, bump_name : file names of the texture PNGs written beside the OBJ.
    material_name : the material's name in the MTL and the GLB.
    subdivisions : levels of subdivision by :mod:`facetex.geometry.subdivide` (each level
        splits every triangle into 4); 0 exports the mesh as given.
    subdivision_scheme : "loop" (smoother surface) or "midpoint".
    roughness, metallic : glTF PBR factors of the skin material (skin is a dielectric; 0.6 is
        a common roughness for skin without a specular map).
    padding_texels : edge padding of the exported textures past the UV chart, in texels of a
        512² map (scaled with the resolution: 2 at 128²); 0 writes the maps unpadded.
    morph_targets : write the morphable model's named expression blendshapes (the ICT model's
        53 ARKit shapes) into the GLB as morph targets, the fitted expression as their weights;
        False writes the fitted shape alone (a GLB about 7 MB smaller).
    head : with the ICT face model, export the rest of the head beside the face tile (scalp and
        neck textured from the face, mouth interior, teeth, eyeballs with the photo's iris
        colour and the fitted gaze; :mod:`facetex.render.head`); False exports the face tile
        alone. Needs the ICT files in the data folder.
    """

    basename: str = "face"
    albedo_name: str = "albedo.png"
    normal_name: str = "normal.png"
    bump_name: str = "bump.png"
    material_name: str = "skin"
    subdivisions: int = 0
    subdivision_scheme: str = "loop"
    roughness: float = 0.6
    metallic: float = 0.0
    padding_texels: int = 8
    morph_targets: bool = setting(True, help="write the expression blendshapes into face.glb as named morph targets (a rig)")
    head: bool = setting(True, help="export the complete head (scalp, neck, teeth, eyes) beside the face tile (ICT model)")

    def __post_init__(self) -> None:
        check_declared(self)  # morph_targets, head
        check_integer("subdivisions", self.subdivisions, 0, 4)  # 4 levels: 230 k triangles
        check_choice("subdivision_scheme", self.subdivision_scheme, ("loop", "midpoint"))
        check_number("roughness", self.roughness, 0.0, 1.0)
        check_number("metallic", self.metallic, 0.0, 1.0)
        check_integer("padding_texels", self.padding_texels, 0, 256)
