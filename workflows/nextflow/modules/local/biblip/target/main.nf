// nf-core style module: score candidate target genes of noncoding variants with biblip.
process BIBLIP_TARGET {
    tag "${meta.id}"
    label 'process_medium'
    accelerator params.biblip_gpus ?: 0

    conda "${moduleDir}/environment.yml"
    // Built from workflows/container/Dockerfile (Apptainer: workflows/container/biblip.def); not published.
    container "biblip:0.1.0"

    input:
    tuple val(meta), path(vcf)
    path bundle
    path model

    output:
    tuple val(meta), path("*.target.vcf.gz"), emit: vcf
    tuple val(meta), path("*.target.tsv")   , emit: tsv
    tuple val("${task.process}"), val('biblip'), eval("biblip --version | sed 's/^biblip //'"), topic: versions, emit: versions_biblip

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''   // e.g. '--window 500000 --top 5'
    def prefix = task.ext.prefix ?: "${meta.id}"
    """
    biblip target ${vcf} \\
        --bundle ${bundle} \\
        --model ${model} \\
        --output-type z \\
        -o ${prefix}.target.vcf.gz \\
        --tsv ${prefix}.target.tsv \\
        ${args}
    """

    stub:
    def args   = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "${meta.id}"
    """
    echo "biblip target ${vcf} --bundle ${bundle} --model ${model} --output-type z -o ${prefix}.target.vcf.gz --tsv ${prefix}.target.tsv ${args}" > ${prefix}.command.txt
    echo "" | gzip > ${prefix}.target.vcf.gz
    touch ${prefix}.target.tsv
    """
}
