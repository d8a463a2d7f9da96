#!/usr/bin/env nextflow
// Scatter a VCF into --shards pieces, annotate each with biblip, gather with bcftools concat.
// nextflow run workflows/nextflow/main.nf --vcf in.vcf.gz --bundle resources/demo_bundle \
//     --model resources/model --shards 8 --outdir results
nextflow.enable.dsl = 2

params.vcf         = null
params.bundle      = "${projectDir}/../../resources/demo_bundle"
params.model       = "${projectDir}/../../resources/model"
params.shards      = 4
params.outdir      = 'results'
params.biblip_gpus = 0

include { BIBLIP_ANNOTATE } from './modules/local/biblip/annotate/main'

process BIBLIP_GATHER {
    tag "${meta.id}"
    publishDir params.outdir, mode: 'copy'

    input:
    tuple val(meta), path(vcfs), path(tsvs)

    output:
    tuple val(meta), path("${meta.id}.biblip.vcf.gz"), path("${meta.id}.biblip.vcf.gz.tbi"), emit: vcf
    tuple val(meta), path("${meta.id}.biblip.tsv"), emit: tsv

    script:
    // Shard outputs are named <id>.<i>of<n>; sort by shard number so the concatenation is in genome order.
    def ordered = vcfs.sort { f -> (f.name =~ /\.(\d+)of\d+\./)[0][1] as int }
    def orderedTsv = tsvs.sort { f -> (f.name =~ /\.(\d+)of\d+\./)[0][1] as int }
    """
    bcftools concat -O z -o ${meta.id}.biblip.vcf.gz ${ordered.join(' ')}
    tabix -p vcf ${meta.id}.biblip.vcf.gz
    head -n 1 ${orderedTsv[0]} > ${meta.id}.biblip.tsv
    for f in ${orderedTsv.join(' ')}; do tail -n +2 "\$f" >> ${meta.id}.biblip.tsv; done
    """
}

workflow {
    if (!params.vcf) { error "--vcf is required" }
    def n = params.shards as int
    vcf = Channel.fromPath(params.vcf, checkIfExists: true)
    // meta.id names the shard (<name>.<i>of<n>); the shard itself travels as a plain value.
    shards = vcf.flatMap { f -> (1..n).collect { i -> [[id: "${f.simpleName}.${i}of${n}"], f, "${i}/${n}"] } }
    BIBLIP_ANNOTATE(shards, file(params.bundle), file(params.model))
    grouped = BIBLIP_ANNOTATE.out.vcf
        .join(BIBLIP_ANNOTATE.out.tsv)
        .map { meta, v, t -> [[id: meta.id.replaceFirst(/\.\d+of\d+$/, '')], v, t] }
        .groupTuple(size: n)
    BIBLIP_GATHER(grouped)
}
