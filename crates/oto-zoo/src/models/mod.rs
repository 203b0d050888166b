//! The model registry: one table row per network (name, description, default input, task)
//! pointing at the function that builds it. Each family lives in its own file.
use crate::builder::{Builder, Val, R};
use crate::{Ctx, Task, ZooEntry};

mod blocks;
mod carn;
mod convnext;
mod demonet;
mod densenet;
mod fmnist;
mod mobilenet;
mod resnet;
mod resnet_cifar;
mod resnext;
mod shufflenet;
mod transformer;
mod unet;
mod vgg;

pub(crate) type ModelFn = fn(&mut Builder, &Val, &Ctx) -> R<Val>;

const fn cls(name: &'static str, description: &'static str, input_shape: [usize; 3], num_classes: usize, build: ModelFn) -> ZooEntry {
    ZooEntry { name, description, input_shape, num_classes, task: Task::Classification, build }
}
const fn sr(name: &'static str, description: &'static str, scale: usize, build: ModelFn) -> ZooEntry {
    ZooEntry { name, description, input_shape: [3, 32, 32], num_classes: 0, task: Task::SuperResolution { scale }, build }
}

pub(crate) static ENTRIES: &[ZooEntry] = &[
    cls("vgg16_bn", "VGG16 with BatchNorm, CIFAR head (GAP, 512-512-classes) as in the OTOv2 tutorial", [3, 32, 32], 10, vgg::vgg16_bn),
    cls("vgg16_bn_imagenet", "VGG16 with BatchNorm, ImageNet head (flatten of the final map, 4096-4096-classes)", [3, 224, 224], 1000, vgg::vgg16_bn_imagenet),
    cls("resnet20", "CIFAR ResNet-20, option-B (1x1 conv + BN) shortcuts", [3, 32, 32], 10, resnet_cifar::resnet20),
    cls("resnet56", "CIFAR ResNet-56, option-B (1x1 conv + BN) shortcuts", [3, 32, 32], 10, resnet_cifar::resnet56),
    cls("resnet20_a", "CIFAR ResNet-20, option-A (strided Slice + zero channel Pad) shortcuts", [3, 32, 32], 10, resnet_cifar::resnet20_a),
    cls("resnet56_a", "CIFAR ResNet-56, option-A (strided Slice + zero channel Pad) shortcuts", [3, 32, 32], 10, resnet_cifar::resnet56_a),
    cls("resnet18", "torchvision ResNet-18 (CIFAR stem when the input is <= 64 px)", [3, 224, 224], 1000, resnet::resnet18),
    cls("resnet50", "torchvision ResNet-50, bottleneck blocks (CIFAR stem when the input is <= 64 px)", [3, 224, 224], 1000, resnet::resnet50),
    cls("densenet_bc", "DenseNet-BC for CIFAR, growth 12, depth 40 (config.depth)", [3, 32, 32], 10, densenet::densenet_bc),
    cls("densenet121", "torchvision DenseNet-121, growth 32, blocks 6-12-24-16", [3, 224, 224], 1000, densenet::densenet121),
    cls("convnext_tiny", "ConvNeXt-T: depths 3-3-9-3, dims 96-768", [3, 224, 224], 1000, convnext::convnext_tiny),
    cls("convnext_nano", "ConvNeXt with depths 2-2-6-2, dims 40-320", [3, 64, 64], 100, convnext::convnext_nano),
    cls("convnext_mini", "ConvNeXt with depths 1-1-2-1, dims 16-128 (for tests)", [3, 32, 32], 10, convnext::convnext_mini),
    sr("carn_x2", "CARN super-resolution x2 (64 channels, 3 cascading blocks)", 2, carn::carn_x2),
    sr("carn_x4", "CARN super-resolution x4 (64 channels, two PixelShuffle(2) stages)", 4, carn::carn_x4),
    sr("carn_mini", "CARN x2 with 16 channels (for tests)", 2, carn::carn_mini),
    cls("stacked_unets", "two stacked U-Nets (ConvTranspose and Resize decoders) with a classifier, SVHN-like", [3, 32, 32], 10, unet::stacked_unets),
    cls("mobilenet_v2", "MobileNetV2, ReLU6 as Clip(0,6) (CIFAR strides when the input is <= 64 px)", [3, 224, 224], 1000, mobilenet::mobilenet_v2),
    cls("resnext_block_net", "small ResNeXt: bottleneck blocks with grouped 3x3 convs, cardinality 8", [3, 32, 32], 10, resnext::resnext_block_net),
    cls("shufflenet_style", "ShuffleNetV2-style units: channel Split, branch convs, Concat, channel shuffle", [3, 32, 32], 10, shufflenet::shufflenet_style),
    cls("tiny_transformer", "ViT-style transformer: 4x4 patch embed, 2 encoder layers, 4 heads, mean pool", [3, 32, 32], 10, transformer::tiny_transformer),
    cls("demonet", "the OTOv2 paper's Figure-2 network (two branches added, concat, BN, conv, two FCs)", [3, 32, 32], 10, demonet::demonet),
    cls("fmnist_vgg", "small VGG for Fashion-MNIST (conv32-conv32-pool-conv64-conv64-pool-GAP-fc)", [1, 28, 28], 10, fmnist::fmnist_vgg),
    cls("fmnist_resnet", "small ResNet for Fashion-MNIST (16-32-64, one basic block per stage)", [1, 28, 28], 10, fmnist::fmnist_resnet),
];
